package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesPrivateDirAndFile(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "var", "lib", "ticketsync", "state.db")
	s := openStore(t, Config{Path: path, Now: clk.Now})
	assert.Equal(t, path, s.Path())

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), di.Mode().Perm())
}

func TestOpenEmptyPath(t *testing.T) {
	_, err := Open(Config{})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = OpenReadOnly(Config{})
	require.ErrorIs(t, err, ErrInvalid)
}

func TestOpenWritesSchemaAndBuckets(t *testing.T) {
	s, _ := newStore(t)
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			assert.NotNil(t, tx.Bucket([]byte(name)), name)
		}
		assert.Equal(t, "1", string(tx.Bucket([]byte(bucketMeta)).Get(keySchemaVersion)))
		return nil
	}))
}

func TestMigrationTableCoversEveryVersion(t *testing.T) {
	require.Len(t, migrations, SchemaVersion)
	for v, m := range migrations {
		assert.NotNil(t, m, "migration from v%d", v)
	}
}

// writeRaw builds a file by hand, the way an older or newer build left it.
func writeRaw(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
}

func put(t *testing.T, tx *bolt.Tx, bucket, key, value string) {
	t.Helper()
	b, err := tx.CreateBucketIfNotExists([]byte(bucket))
	require.NoError(t, err)
	require.NoError(t, b.Put([]byte(key), []byte(value)))
}

func TestSchemaTooNew(t *testing.T) {
	clk := newClock()
	cfg := testConfig(t, clk)
	writeRaw(t, cfg.Path, func(tx *bolt.Tx) error {
		put(t, tx, bucketMeta, "schema_version", "7")
		return nil
	})

	_, err := Open(cfg)
	require.ErrorIs(t, err, ErrSchemaTooNew)
	assert.Contains(t, err.Error(), cfg.Path)
	assert.Contains(t, err.Error(), "schema version 7")
	assert.Contains(t, err.Error(), "newer ticketsync")

	_, err = OpenReadOnly(cfg)
	require.ErrorIs(t, err, ErrSchemaTooNew)

	// The refused file was not touched and the lock was released.
	writeRaw(t, cfg.Path, func(tx *bolt.Tx) error {
		assert.Equal(t, "7", string(tx.Bucket([]byte(bucketMeta)).Get(keySchemaVersion)))
		return nil
	})
}

func TestSchemaUnreadable(t *testing.T) {
	clk := newClock()
	cfg := testConfig(t, clk)
	writeRaw(t, cfg.Path, func(tx *bolt.Tx) error {
		put(t, tx, bucketMeta, "schema_version", `"one"`)
		return nil
	})
	_, err := Open(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unreadable schema_version")
}

// writeV0 leaves a file as the pre-release layout did: no meta bucket, raw
// header values as keys.
func writeV0(t *testing.T, path string) {
	writeRaw(t, path, func(tx *bolt.Tx) error {
		put(t, tx, bucketMessages, "<A1@Mail.Example>",
			`{"message_id":"<A1@Mail.Example>","ticket_uuid":"u-1","ticket_id":7,"action":"created","at":"2026-02-01T00:00:00Z"}`)
		put(t, tx, bucketMessages, "<dup@x>", `{"ticket_uuid":"old","at":"2026-02-01T00:00:00Z"}`)
		put(t, tx, bucketMessages, "dup@x", `{"ticket_uuid":"new","at":"2026-02-02T00:00:00Z"}`)
		put(t, tx, bucketMessages, "<>", `{"ticket_uuid":"junk"}`)
		put(t, tx, bucketOutbound, " <o1@ticketsync.local> ", `{"ticket_uuid":"u-2","ticket_id":8,"at":"2026-02-01T00:00:00Z"}`)
		put(t, tx, bucketSenders, "John@Acme.COM", `{"user_id":15}`)
		put(t, tx, bucketIntents, "<i1@x>", `{"key":"<i1@x>","kind":"create","attempts":2,"created_at":"2026-02-01T00:00:00Z"}`)
		return nil
	})
}

func TestMigrateFromV0(t *testing.T) {
	clk := newClock()
	cfg := testConfig(t, clk)
	writeV0(t, cfg.Path)

	s := openStore(t, cfg)

	rec, ok, err := s.MessageTicket("A1@Mail.Example")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, MessageRecord{MessageID: "A1@Mail.Example", TicketUUID: "u-1", TicketID: 7,
		Action: "created", At: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}, rec)

	rec, ok, err = s.MessageTicket("dup@x")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "new", rec.TicketUUID, "the already-normalised record wins")

	uuid, id, ok, err := s.OutboundTicket("o1@ticketsync.local")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "u-2", uuid)
	assert.Equal(t, int64(8), id)

	uid, ok, err := s.SenderUser("john@acme.com")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(15), uid)

	in, ok, err := s.Intent("i1@x")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "i1@x", in.Key)
	assert.Equal(t, 2, in.Attempts)

	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		assert.Equal(t, "1", string(tx.Bucket([]byte(bucketMeta)).Get(keySchemaVersion)))
		for _, raw := range []string{"<A1@Mail.Example>", "<dup@x>", "<>"} {
			assert.Nil(t, tx.Bucket([]byte(bucketMessages)).Get([]byte(raw)), raw)
		}
		assert.Nil(t, tx.Bucket([]byte(bucketSenders)).Get([]byte("John@Acme.COM")))
		for _, name := range allBuckets {
			assert.NotNil(t, tx.Bucket([]byte(name)), name)
		}
		return nil
	}))
}

func TestFailedMigrationLeavesFileUntouched(t *testing.T) {
	clk := newClock()
	cfg := testConfig(t, clk)
	writeV0(t, cfg.Path)

	orig := migrations[0]
	t.Cleanup(func() { migrations[0] = orig })
	errBoom := errors.New("boom")
	migrations[0] = func(tx *bolt.Tx) error {
		if err := orig(tx); err != nil {
			return err
		}
		return errBoom
	}
	_, err := Open(cfg)
	require.ErrorIs(t, err, errBoom)
	assert.Contains(t, err.Error(), "migrate schema 0 -> 1")

	writeRaw(t, cfg.Path, func(tx *bolt.Tx) error {
		assert.Nil(t, tx.Bucket([]byte(bucketMeta)), "still v0")
		assert.NotNil(t, tx.Bucket([]byte(bucketMessages)).Get([]byte("<A1@Mail.Example>")), "not re-keyed")
		return nil
	})
}

func TestReadOnly(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "m1@x", TicketUUID: "u-1", Action: "created"}))
	require.NoError(t, s.Close())

	cfg := Config{Path: s.Path(), LockTimeout: 200 * time.Millisecond, Now: clk.Now}
	ro, err := OpenReadOnly(cfg)
	require.NoError(t, err)
	defer ro.Close()
	// Shared locks coexist: two inspectors at once are fine.
	ro2, err := OpenReadOnly(cfg)
	require.NoError(t, err)
	require.NoError(t, ro2.Close())

	_, ok, err := ro.MessageTicket("m1@x")
	require.NoError(t, err)
	assert.True(t, ok)

	writes := map[string]error{
		"Update":    ro.Update(func(*Tx) error { return nil }),
		"SetCursor": ro.SetCursor("INBOX", Cursor{UIDValidity: 1, LastUID: 1}),
		"put":       ro.put(bucketKV, "k", 1),
		"PutIntent": ro.PutIntent(Intent{Key: "i@x"}),
	}
	for name, err := range writes {
		assert.ErrorIs(t, err, ErrReadOnly, name)
	}
	_, err = ro.Prune(time.Hour)
	assert.ErrorIs(t, err, ErrReadOnly)
	_, err = ro.CountSenderTicket("a@b", time.Time{})
	assert.ErrorIs(t, err, ErrReadOnly)
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	_, err := OpenReadOnly(Config{Path: filepath.Join(t.TempDir(), "nope.db")})
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "nope.db")
}

func TestUpdateCommitsTogetherOrNotAtAll(t *testing.T) {
	s, _ := newStore(t)
	errBoom := errors.New("boom")

	err := s.Update(func(tx *Tx) error {
		require.NoError(t, tx.putJSON(bucketThreads, "u-1", "1700000000.000100"))
		require.NoError(t, tx.RecordMessage(MessageRecord{MessageID: "m1@x", TicketUUID: "u-1"}))
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)
	assert.Equal(t, errBoom, err, "fn's error is returned unchanged")
	var ts string
	ok, err := s.get(bucketThreads, "u-1", &ts)
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = s.MessageTicket("m1@x")
	require.NoError(t, err)
	assert.False(t, ok)

	require.NoError(t, s.Update(func(tx *Tx) error {
		if err := tx.putJSON(bucketThreads, "u-1", "1700000000.000100"); err != nil {
			return err
		}
		return tx.RecordMessage(MessageRecord{MessageID: "m1@x", TicketUUID: "u-1"})
	}))
	ok, err = s.get(bucketThreads, "u-1", &ts)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "1700000000.000100", ts)
	_, ok, err = s.MessageTicket("m1@x")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestUseAfterClose(t *testing.T) {
	s, _ := newStore(t)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is harmless")
	err := s.SetCursor("INBOX", Cursor{UIDValidity: 1, LastUID: 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "state:")
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, id, email string }{
		{"<Abc@Host>", "Abc@Host", "abc@host"},
		{"  <Abc@Host>  ", "Abc@Host", "abc@host"},
		{"Abc@Host", "Abc@Host", "abc@host"},
		{"< spaced@x >", "spaced@x", "spaced@x"},
		{"<>", "", ""},
		{"   ", "", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.id, NormalizeMessageID(tc.in))
			assert.Equal(t, tc.email, NormalizeEmail(tc.in))
		})
	}
}

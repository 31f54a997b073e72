// Package mailtest runs real IMAP servers for tests: go-imap's in-memory
// server inside the test process (StartMemServer) and a throwaway Dovecot
// (StartDovecot), behind one Server interface so a suite is written once and
// run against both. It is an ordinary package so that other packages' tests
// (the bridge flows) can use it too.
package mailtest

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Server is what tests need from an IMAP server. Helpers that take a
// testing.TB fail the test on error and must be called from the test's own
// goroutine.
type Server interface {
	Addr() string
	Username() string
	Password() string

	// Append stores raw in mailbox over IMAP, as a delivery would (other
	// sessions get EXISTS, IDLE wakes up), and returns its UID.
	Append(t testing.TB, mailbox string, raw []byte) uint32
	// AppendAt is Append with the date the server received the mail
	// (INTERNALDATE) and flags, as a mailbox that already holds old mail
	// has them.
	AppendAt(t testing.TB, mailbox string, raw []byte, received time.Time, flags ...string) uint32
	// Messages lists mailbox in UID order without changing any flag.
	Messages(t testing.TB, mailbox string) []MemMessage
	UIDValidity(t testing.TB, mailbox string) uint32
	CreateMailbox(t testing.TB, name string)
	// RecreateMailbox empties mailbox and gives it a new UIDVALIDITY, as
	// when an admin deletes and recreates it or restores a backup.
	RecreateMailbox(t testing.TB, mailbox string)
	AddFlags(t testing.TB, mailbox string, uid uint32, flags ...string)

	// Stop kills the server abruptly: open sessions see the connection
	// drop. Restart brings it back on the same address with the same mail.
	Stop()
	Restart(t testing.TB)
	// Close stops the server for good; t.Cleanup calls it too.
	Close()
}

// MemMessage is one stored message as Messages reports it.
type MemMessage struct {
	UID       uint32
	Flags     []string
	Size      int64
	MessageID string // without <>
}

// admin opens short-lived connections of its own, apart from the code
// under test.
type admin struct {
	addr, user, pass string
	implicitTLS      bool
	tlsConfig        *tls.Config // for implicit TLS; trusts anything
}

func (a *admin) do(t testing.TB, what string, f func(c *imapclient.Client) error) {
	t.Helper()
	if err := a.try(f); err != nil {
		t.Fatalf("mailtest: %s: %v", what, err)
	}
}

func (a *admin) try(f func(c *imapclient.Client) error) error {
	opts := &imapclient.Options{Dialer: &net.Dialer{Timeout: 10 * time.Second}}
	var (
		c   *imapclient.Client
		err error
	)
	if a.implicitTLS {
		opts.TLSConfig = a.tlsConfig
		c, err = imapclient.DialTLS(a.addr, opts)
	} else {
		c, err = imapclient.DialInsecure(a.addr, opts)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(a.user, a.pass).Wait(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if err := f(c); err != nil {
		return err
	}
	return c.Logout().Wait()
}

func (a *admin) appendMsg(t testing.TB, mailbox string, raw []byte) uint32 {
	t.Helper()
	uid, err := a.appendRaw(mailbox, raw)
	if err != nil {
		t.Fatalf("mailtest: append to %s: %v", mailbox, err)
	}
	return uid
}

func (a *admin) appendRaw(mailbox string, raw []byte) (uint32, error) {
	return a.appendWith(mailbox, raw, nil)
}

func (a *admin) appendAt(t testing.TB, mailbox string, raw []byte, received time.Time, flags ...string) uint32 {
	t.Helper()
	opts := &imap.AppendOptions{Time: received}
	for _, f := range flags {
		opts.Flags = append(opts.Flags, imap.Flag(f))
	}
	uid, err := a.appendWith(mailbox, raw, opts)
	if err != nil {
		t.Fatalf("mailtest: append to %s: %v", mailbox, err)
	}
	return uid
}

func (a *admin) appendWith(mailbox string, raw []byte, opts *imap.AppendOptions) (uint32, error) {
	var uid uint32
	err := a.try(func(c *imapclient.Client) error {
		cmd := c.Append(mailbox, int64(len(raw)), opts)
		if _, err := cmd.Write(raw); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		data, err := cmd.Wait()
		if err != nil {
			return err
		}
		if data.UID == 0 {
			return errors.New("server sent no APPENDUID")
		}
		uid = uint32(data.UID)
		return nil
	})
	return uid, err
}

func (a *admin) messages(t testing.TB, mailbox string) []MemMessage {
	t.Helper()
	var out []MemMessage
	a.do(t, "list "+mailbox, func(c *imapclient.Client) error {
		// EXAMINE: read-only, so looking changes nothing (not even \Recent).
		sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil || sel.NumMessages == 0 {
			return err
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, RFC822Size: true, Envelope: true,
		}).Collect()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			mm := MemMessage{UID: uint32(m.UID), Size: m.RFC822Size}
			if m.Envelope != nil {
				mm.MessageID = m.Envelope.MessageID
			}
			for _, f := range m.Flags {
				mm.Flags = append(mm.Flags, string(f))
			}
			out = append(out, mm)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b MemMessage) int { return cmp.Compare(a.UID, b.UID) })
	return out
}

func (a *admin) uidValidity(t testing.TB, mailbox string) uint32 {
	t.Helper()
	var v uint32
	a.do(t, "status "+mailbox, func(c *imapclient.Client) error {
		data, err := c.Status(mailbox, &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			return err
		}
		v = data.UIDValidity
		return nil
	})
	return v
}

func (a *admin) create(t testing.TB, name string) {
	t.Helper()
	a.do(t, "create "+name, func(c *imapclient.Client) error {
		err := c.Create(name, nil).Wait()
		var imapErr *imap.Error
		if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists {
			return nil
		}
		return err
	})
}

func (a *admin) addFlags(t testing.TB, mailbox string, uid uint32, flags ...string) {
	t.Helper()
	a.do(t, "store flags in "+mailbox, func(c *imapclient.Client) error {
		if _, err := c.Select(mailbox, nil).Wait(); err != nil {
			return err
		}
		fl := make([]imap.Flag, len(flags))
		for i, f := range flags {
			fl[i] = imap.Flag(f)
		}
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: fl}
		return c.Store(imap.UIDSetNum(imap.UID(uid)), store, nil).Close()
	})
}

// expungeAll deletes every message in mailbox.
func (a *admin) expungeAll(t testing.TB, mailbox string) {
	t.Helper()
	a.do(t, "empty "+mailbox, func(c *imapclient.Client) error {
		sel, err := c.Select(mailbox, nil).Wait()
		if err != nil || sel.NumMessages == 0 {
			return err
		}
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := c.Store(imap.SeqSet{{Start: 1, Stop: 0}}, store, nil).Close(); err != nil {
			return err
		}
		return c.Expunge().Close()
	})
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

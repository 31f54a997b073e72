package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ticketsync/ticketsync/internal/state"
)

// newStateFile writes a closed state file holding one message record.
func newStateFile(t *testing.T, path, msgID string) {
	t.Helper()
	st, err := state.Open(state.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordMessage(state.MessageRecord{MessageID: msgID, TicketUUID: "u-1", TicketID: 46, Action: "create"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// hasMessage reports whether the state file at path knows msgID.
func hasMessage(t *testing.T, path, msgID string) bool {
	t.Helper()
	st, err := state.OpenReadOnly(state.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, ok, err := st.MessageTicket(msgID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestStateCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	newStateFile(t, path, "check-me@acme.com")

	code, out, errOut := run(t, "state", "check", "--path", path)
	if code != 0 || out != "ok  "+path+"\n" {
		t.Fatalf("clean file: %d %q %q", code, out, errOut)
	}

	// Through the configuration's state.path.
	cfg := filepath.Join(dir, "config.yaml")
	writeFile(t, cfg, "taskip:\n  base_url: http://127.0.0.1:1/api\n  secret_key: k\nstate:\n  path: "+path+"\n")
	if code, out, errOut := run(t, "state", "check", "--config", cfg); code != 0 || !strings.HasPrefix(out, "ok") {
		t.Fatalf("clean file by --config: %d %q %q", code, out, errOut)
	}

	// While the daemon holds it.
	st, err := state.Open(state.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "state", "check", "--path", path)
	if code != 1 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "another ticketsync instance is probably running") {
		t.Fatalf("check while the file is held: %d %q", code, errOut)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Truncated: every problem on stdout, the remedy on stderr.
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, info.Size()/2); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "state", "check", "--path", path)
	if code != 1 || !strings.HasPrefix(out, path+" is damaged:\n  the file is") || !strings.Contains(out, "it is truncated") ||
		!strings.Contains(errOut, "ticketsync state restore") || !strings.Contains(errOut, "move the file away") {
		t.Fatalf("truncated file: %d %q %q", code, out, errOut)
	}

	// Not a state file at all.
	notes := filepath.Join(dir, "notes.txt")
	writeFile(t, notes, strings.Repeat("not a database\n", 1000))
	code, out, _ = run(t, "state", "check", "--path", notes)
	if code != 1 || !strings.Contains(out, "not a bbolt database") {
		t.Fatalf("text file: %d %q", code, out)
	}

	if code, _, errOut := run(t, "state", "check", "--path", path, "extra"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Fatalf("stray argument: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "state", "frobnicate"); code != 2 {
		t.Fatalf("unknown verb: %d", code)
	}
}

func TestStateRestore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	backups := filepath.Join(dir, "backups")

	// A backup taken by the running daemon, which then goes on writing.
	st, err := state.Open(state.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordMessage(state.MessageRecord{MessageID: "before@acme.com", Action: "create"}); err != nil {
		t.Fatal(err)
	}
	backup, err := st.Backup(backups)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordMessage(state.MessageRecord{MessageID: "after@acme.com", Action: "create"}); err != nil {
		t.Fatal(err)
	}

	// Refused while the daemon holds the state file; nothing changes.
	code, out, errOut := run(t, "state", "restore", backup, "--path", path)
	if code != 1 || out != "" || !strings.Contains(errOut, path) || !strings.Contains(errOut, "another ticketsync instance is probably running") ||
		!strings.Contains(errOut, "was not changed") {
		t.Fatalf("restore while the file is held: %d %q %q", code, out, errOut)
	}
	if names := dirNames(t, dir); strings.Join(names, " ") != "backups state.db" {
		t.Fatalf("a refused restore left files behind: %v", names)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Flags before the backup work too.
	code, out, errOut = run(t, "state", "restore", "--path", path, backup)
	if code != 0 {
		t.Fatalf("restore: %d %q %q", code, out, errOut)
	}
	kept := regexp.MustCompile(`kept the previous state file as (\S+)\n`).FindStringSubmatch(out)
	if kept == nil || !strings.HasPrefix(kept[1], path+".before-restore-") || !strings.Contains(out, "checked "+backup+": ok") ||
		!strings.Contains(out, "restored "+backup+" to "+path) {
		t.Fatalf("restore output: %q", out)
	}
	if !hasMessage(t, path, "before@acme.com") || hasMessage(t, path, "after@acme.com") {
		t.Fatal("the state file is not the backup")
	}
	if !hasMessage(t, kept[1], "after@acme.com") {
		t.Fatal("the previous state file was not kept as it was")
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("restored file: %v %v", info.Mode(), err)
	}
	if code, out, errOut := run(t, "state", "check", "--path", path); code != 0 {
		t.Fatalf("check after restore: %d %q %q", code, out, errOut)
	}

	// No state file yet (a new volume): nothing to keep.
	fresh := filepath.Join(dir, "new", "state.db")
	code, out, errOut = run(t, "state", "restore", backup, "--path", fresh)
	if code != 0 || !strings.Contains(out, "there was no state file at "+fresh) || !hasMessage(t, fresh, "before@acme.com") {
		t.Fatalf("restore to a new path: %d %q %q", code, out, errOut)
	}

	// A damaged backup is refused and the state file left alone.
	bad := filepath.Join(dir, "bad.db")
	writeFile(t, bad, "garbage")
	code, _, errOut = run(t, "state", "restore", bad, "--path", path)
	if code != 1 || !strings.Contains(errOut, "the backup "+bad+" is damaged") || !strings.Contains(errOut, "was not changed") {
		t.Fatalf("damaged backup: %d %q", code, errOut)
	}
	if !hasMessage(t, path, "before@acme.com") {
		t.Fatal("a refused restore changed the state file")
	}

	if code, _, errOut := run(t, "state", "restore", "--path", path); code != 2 || !strings.Contains(errOut, "missing BACKUP") {
		t.Fatalf("no backup named: %d %q", code, errOut)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestStateBackupConfig: the backup keys are checked like the others.
func TestStateBackupConfig(t *testing.T) {
	dir := t.TempDir()
	base := "taskip:\n  base_url: http://127.0.0.1:1/api\n  secret_key: k\nstate:\n  path: /data/state.db\n"
	for _, tc := range []struct {
		name, state, want string
	}{
		{"on", "  backup_dir: /backups\n  backup_schedule: \"0 3 * * *\"\n  backup_keep: 3\n", ""},
		{"off, any schedule", "  backup_schedule: nonsense\n", ""},
		{"relative directory", "  backup_dir: backups\n", "state.backup_dir: must be an absolute path"},
		{"the state file itself", "  backup_dir: /data/state.db\n", "state.backup_dir: must be a directory"},
		{"bad schedule", "  backup_dir: /backups\n  backup_schedule: \"@every 6 hours\"\n", "state.backup_schedule: not a cron schedule"},
		{"keep none", "  backup_keep: 0\n", "state.backup_keep: must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			writeFile(t, cfg, base+tc.state)
			code, _, errOut := run(t, "check-config", "--config", cfg)
			if tc.want == "" {
				if code != 0 {
					t.Fatalf("valid: %d %q", code, errOut)
				}
				return
			}
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("want %q: %d %q", tc.want, code, errOut)
			}
		})
	}
}

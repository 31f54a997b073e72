package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketsync/ticketsync/internal/state"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDispatch(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "ticketsync ") {
		t.Fatalf("version: %d %q", code, out)
	}
	code, _, errOut := run(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
	code, _, errOut = run(t)
	if code != 2 || !strings.Contains(errOut, "missing command") {
		t.Fatalf("no command: %d %q", code, errOut)
	}
	// The demo is the end-to-end smoke test: every step verified, exit 0.
	code, out, errOut = run(t, "demo")
	if code != 0 || !strings.Contains(out, "All 10 steps verified") {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut = run(t, "demo", "--frobnicate"); code != 2 || !strings.Contains(errOut, "frobnicate") {
		t.Fatalf("demo with a wrong flag: %d %q", code, errOut)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	const secret = "test-secret-value-1234"
	writeFile(t, good, "taskip:\n  base_url: http://127.0.0.1:1/api\n  secret_key: "+secret+"\n")
	writeFile(t, bad, "taskip:\n  base_url: nope\n  secret_key: "+secret+"\n  timeoutt: 3s\n")

	code, out, errOut := run(t, "check-config", "--config", good)
	if code != 0 || !strings.Contains(out, "ok") || strings.Contains(out+errOut, secret) {
		t.Fatalf("good config: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "check-config", "--config", bad)
	if code != 1 || !strings.Contains(errOut, "taskip.base_url") || !strings.Contains(errOut, "taskip.timeoutt") || strings.Contains(out+errOut, secret) {
		t.Fatalf("bad config: %d %q %q", code, out, errOut)
	}
	if code, _, _ := run(t, "check-config"); code != 2 {
		t.Fatalf("missing --config: %d", code)
	}

	// Valid, but a mail section without sender authentication is worth
	// a warning that does not fail the check.
	withMail := filepath.Join(dir, "mail.yaml")
	writeFile(t, withMail, "taskip:\n  base_url: http://127.0.0.1:1/api\n  secret_key: "+secret+"\n"+
		"mail:\n  address: support@example.com\n  acknowledge_new: false\n  send_agent_replies: false\n"+
		"  imap: {addr: \"127.0.0.1:143\", tls: none, username: u, password: p}\n")
	code, _, errOut = run(t, "check-config", "--config", withMail)
	if code != 0 || !strings.Contains(errOut, "warning: mail.authentication: sender authentication is off") {
		t.Fatalf("no sender authentication: %d %q", code, errOut)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStateDump(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := state.Open(state.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordMessage(state.MessageRecord{MessageID: "dump-me@acme.com", TicketUUID: "u-1", TicketID: 46, Action: "create"}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "state", "dump", "--path", path)
	if code != 1 || !strings.Contains(errOut, path) {
		t.Fatalf("dump while the file is held: %d %q", code, errOut)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "state", "dump", "--path", path)
	if code != 0 || !strings.Contains(out, "dump-me@acme.com") || !json.Valid([]byte(out)) {
		t.Fatalf("dump: %d %q %q", code, out, errOut)
	}
	if code, _, _ := run(t, "state"); code != 2 {
		t.Fatalf("state without verb: %d", code)
	}
}

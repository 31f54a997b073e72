package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

const verbList = "verbs: list, show, create, update, delete, reply, status, priority, note, note-delete, assign, attach, attachments, bulk, analytics\n" +
	"run 'ticketsync ticket --help' for usage\n"

func usageOf(verb string) string {
	v := lookupVerb(verb)
	return "usage: " + v.spec().UsageLine() + "\nrun 'ticketsync ticket " + verb + " --help' for details\n"
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		unset  string // an environment variable to clear
		stderr string
	}{
		{name: "no verb", args: nil,
			stderr: "ticketsync ticket: missing verb\n" + verbList},
		{name: "unknown verb", args: []string{"frobnicate", "12"},
			stderr: "ticketsync ticket: unknown verb \"frobnicate\"\n" + verbList},
		{name: "help for unknown verb", args: []string{"help", "frobnicate"},
			stderr: "ticketsync ticket: unknown verb \"frobnicate\"\n" + verbList},
		{name: "missing REF", args: []string{"show"},
			stderr: "ticketsync ticket show: missing REF\n" + usageOf("show")},
		{name: "missing TEXT", args: []string{"reply", "45", "--status", "resolved"},
			stderr: "ticketsync ticket reply: missing TEXT\n" + usageOf("reply")},
		{name: "missing FILE", args: []string{"attach", "45"},
			stderr: "ticketsync ticket attach: missing FILE\n" + usageOf("attach")},
		{name: "extra argument", args: []string{"note", "45", "two", "words"},
			stderr: "ticketsync ticket note: unexpected argument \"words\" (quote text that has spaces)\n" + usageOf("note")},
		{name: "bad REF", args: []string{"show", "abc"},
			stderr: "ticketsync ticket show: invalid ticket reference \"abc\" (want an id like 46 or #46, or a uuid)\n" + usageOf("show")},
		{name: "bad status name", args: []string{"status", "45", "done"},
			stderr: "ticketsync ticket status: unknown status \"done\" (want one of open, in_progress, resolved, closed, pending or 0-4)\n" + usageOf("status")},
		{name: "bad status number", args: []string{"status", "45", "7"},
			stderr: "ticketsync ticket status: unknown status \"7\" (want one of open, in_progress, resolved, closed, pending or 0-4)\n" + usageOf("status")},
		{name: "bad priority name", args: []string{"priority", "45", "critical"},
			stderr: "ticketsync ticket priority: unknown priority \"critical\" (want one of low, normal, medium, high, urgent or 0-4)\n" + usageOf("priority")},
		{name: "bad priority flag", args: []string{"list", "--priority", "critical"},
			stderr: "ticketsync ticket list: invalid value \"critical\" for flag --priority: unknown priority \"critical\" (want one of low, normal, medium, high, urgent or 0-4)\n" + usageOf("list")},
		{name: "bad status flag", args: []string{"reply", "45", "hi", "--status", "done"},
			stderr: "ticketsync ticket reply: invalid value \"done\" for flag --status: unknown status \"done\" (want one of open, in_progress, resolved, closed, pending or 0-4)\n" + usageOf("reply")},
		{name: "unknown flag", args: []string{"show", "45", "--verbose"},
			stderr: "ticketsync ticket show: unknown flag --verbose\n" + usageOf("show")},
		{name: "flag without value", args: []string{"list", "--status"},
			stderr: "ticketsync ticket list: flag needs an argument: --status\n" + usageOf("list")},
		{name: "bad order", args: []string{"list", "--order", "up"},
			stderr: "ticketsync ticket list: invalid value \"up\" for flag --order: want one of asc, desc\n" + usageOf("list")},
		{name: "bad date", args: []string{"list", "--date-from", "16/01/2024"},
			stderr: "ticketsync ticket list: invalid value \"16/01/2024\" for flag --date-from: want a date like 2024-01-31\n" + usageOf("list")},
		{name: "bad page", args: []string{"list", "--page", "0"},
			stderr: "ticketsync ticket list: invalid value \"0\" for flag --page: want a positive number\n" + usageOf("list")},
		{name: "create without subject", args: []string{"create", "--priority", "high"},
			stderr: "ticketsync ticket create: --subject is required\n" + usageOf("create")},
		{name: "create without priority", args: []string{"create", "--subject", "Hello"},
			stderr: "ticketsync ticket create: --priority is required\n" + usageOf("create")},
		{name: "update without fields", args: []string{"update", "45"},
			stderr: "ticketsync ticket update: nothing to update: give at least one of --subject, --priority, --status, --description, --attachment, --created-by, --user-id\n" + usageOf("update")},
		{name: "empty reply", args: []string{"reply", "45", "  "},
			stderr: "ticketsync ticket reply: TEXT is empty\n" + usageOf("reply")},
		{name: "bad note id", args: []string{"note-delete", "45", "x"},
			stderr: "ticketsync ticket note-delete: invalid NOTE_ID \"x\" (want a positive number)\n" + usageOf("note-delete")},
		{name: "bad member id", args: []string{"assign", "45", "sarah"},
			stderr: "ticketsync ticket assign: invalid MEMBER_ID \"sarah\" (want a positive number)\n" + usageOf("assign")},
		{name: "unknown bulk action", args: []string{"bulk", "archive", "1"},
			stderr: "ticketsync ticket bulk: unknown bulk action \"archive\" (want one of delete, status_update, assign, add_tags)\n" + usageOf("bulk")},
		{name: "bulk missing parameter", args: []string{"bulk", "status_update", "1", "2"},
			stderr: "ticketsync ticket bulk: bulk status_update needs --status\n" + usageOf("bulk")},
		{name: "bulk stray parameter", args: []string{"bulk", "delete", "1", "--status", "open"},
			stderr: "ticketsync ticket bulk: --status does not apply to bulk delete\n" + usageOf("bulk")},
		{name: "bad analytics period", args: []string{"analytics", "--period", "decade"},
			stderr: "ticketsync ticket analytics: invalid value \"decade\" for flag --period: want one of day, week, month, year\n" + usageOf("analytics")},
		{name: "missing secret key", args: []string{"list"}, unset: envSecretKey,
			stderr: "ticketsync ticket list: TASKIP_SECRET_KEY is not set (or use --config FILE)\n" + usageOf("list")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.unset != "" {
				delete(h.vars, tc.unset)
			}
			r := h.run(tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d", r.code, exitUsage)
			}
			if r.stderr != tc.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, tc.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty:\n%s", r.stdout)
			}
			if n := len(h.fake.Requests()); n != 0 {
				t.Errorf("a usage error made %d API calls", n)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		key    string // a wrong secret key, when set
		stderr string
	}{
		{name: "404", args: []string{"show", "999"},
			stderr: "ticketsync ticket show: get ticket 999: taskip: GET /support-ticket/999: 404 Ticket not found\n"},
		{name: "404 by uuid", args: []string{"show", "550e8400-e29b-41d4-a716-446655449999"},
			stderr: "ticketsync ticket show: find ticket 550e8400-e29b-41d4-a716-446655449999: taskip: not found\n"},
		{name: "422 with field errors", args: []string{"list", "--sort", "subject", "--category", "x"},
			stderr: "ticketsync ticket list: list tickets: taskip: GET /support-ticket?category=x&sort=subject: 422 The given data was invalid\n" +
				"  sort: The selected sort is invalid.\n"},
		{name: "409 on a closed ticket", args: []string{"priority", "3", "high"},
			stderr: "ticketsync ticket priority: set priority of ticket 550e8400-e29b-41d4-a716-446655440003 to high: taskip: POST /support-ticket/550e8400-e29b-41d4-a716-446655440003/priority: 409 Ticket cannot be modified in current status\n"},
		{name: "401 wrong key", args: []string{"list"}, key: "sk-wrong-0000",
			stderr: "ticketsync ticket list: list tickets: taskip: GET /support-ticket: 401 Invalid or missing X-Secret-Key\n" +
				"  check TASKIP_SECRET_KEY (or the secret_key of --config)\n"},
		{name: "missing file", args: []string{"attach", "45", "/nonexistent/report.pdf"},
			stderr: "ticketsync ticket attach: attach: stat /nonexistent/report.pdf: no such file or directory\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.key != "" {
				h.vars[envSecretKey] = tc.key
			}
			r := h.run(tc.args...)
			if r.code != exitError {
				t.Errorf("exit %d, want %d", r.code, exitError)
			}
			if r.stderr != tc.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, tc.stderr)
			}
			if tc.key != "" && strings.Contains(r.stderr+r.stdout, tc.key) {
				t.Errorf("the wrong key was printed")
			}
		})
	}
}

func TestConfigFlag(t *testing.T) {
	h := newHarness(t)
	delete(h.vars, envSecretKey) // --config must not need the environment

	var gotPath string
	var out, errOut bytes.Buffer
	env := Env{
		Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return h.vars[k] },
		Now:    func() time.Time { return fixedNow },
		ConnectConfig: func(path string) (*taskip.Client, error) {
			gotPath = path
			return taskip.New(taskip.Config{BaseURL: h.vars[envBaseURL], SecretKey: testKey})
		},
	}
	if code := RunTicket(context.Background(), env, []string{"show", "--config", "/etc/ticketsync.yaml", "45"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if gotPath != "/etc/ticketsync.yaml" {
		t.Errorf("ConnectConfig got %q", gotPath)
	}
	if !strings.Contains(out.String(), "Email Notifications Not Working") {
		t.Errorf("unexpected output:\n%s", out.String())
	}

	out.Reset()
	errOut.Reset()
	env.ConnectConfig = func(string) (*taskip.Client, error) {
		return nil, errors.New("config /etc/ticketsync.yaml: taskip.secret_key: file not readable")
	}
	if code := RunTicket(context.Background(), env, []string{"list", "--config", "/etc/ticketsync.yaml"}); code != exitError {
		t.Errorf("failing config: exit %d, want %d", code, exitError)
	}
	if want := "ticketsync ticket list: config /etc/ticketsync.yaml: taskip.secret_key: file not readable\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}

	errOut.Reset()
	env.ConnectConfig = nil
	if code := RunTicket(context.Background(), env, []string{"list", "--config", "x.yaml"}); code != exitError {
		t.Errorf("unwired config: exit %d, want %d", code, exitError)
	}
	if want := "ticketsync ticket list: config support not wired\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
	if strings.Contains(out.String()+errOut.String(), testKey) {
		t.Errorf("the secret key appears in the output")
	}
}

func TestBadBaseURL(t *testing.T) {
	h := newHarness(t)
	h.vars[envBaseURL] = "ftp://user:hunter2@example.com/api"
	r := h.run("list")
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d", r.code, exitUsage)
	}
	if want := "ticketsync ticket list: TASKIP_BASE_URL must be an absolute http(s) URL\n" + usageOf("list"); r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
}

// TestSecretEchoedByServer covers a server that repeats the key in an
// error body: the message is printed, the key is not.
func TestSecretEchoedByServer(t *testing.T) {
	s := &session{env: Env{}.withDefaults(), secret: testKey}
	var errOut bytes.Buffer
	s.env.Stderr = &errOut
	s.printError(&taskip.APIError{Method: "GET", Path: "/support-ticket", StatusCode: 401, Message: "bad key " + testKey})
	if strings.Contains(errOut.String(), testKey) || !strings.Contains(errOut.String(), "bad key [redacted]") {
		t.Errorf("stderr %q", errOut.String())
	}
}

package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDoubleDash(t *testing.T) {
	for in, want := range map[string]string{
		"flag provided but not defined: -verbose":                    "unknown flag --verbose",
		"flag needs an argument: -status":                            "flag needs an argument: --status",
		`invalid value "x" for flag -date-from: want a date`:         `invalid value "x" for flag --date-from: want a date`,
		`invalid boolean value "maybe" for -json: parse error`:       `invalid boolean value "maybe" for --json: parse error`,
		`invalid value "-3" for flag -limit: want a positive number`: `invalid value "-3" for flag --limit: want a positive number`,
		"bad flag syntax: ---x":                                      "bad flag syntax: ---x",
		`invalid value "a for -b" for flag -search: want something`:  `invalid value "a for -b" for flag --search: want something`,
	} {
		if got := doubleDash(in); got != want {
			t.Errorf("doubleDash(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommandParse(t *testing.T) {
	spec := Spec{Name: "state restore", Synopsis: "BACKUP [--path FILE]", Summary: "Restore.", Args: []string{"BACKUP"}}
	for _, tc := range []struct {
		args           []string
		ok             bool
		code           int
		stdout, stderr string
		path, backup   string
	}{
		{args: []string{"b.db", "--path", "s.db"}, ok: true, path: "s.db", backup: "b.db"},
		{args: []string{"--path", "s.db", "b.db"}, ok: true, path: "s.db", backup: "b.db"},
		{args: []string{"--path=s.db", "--", "-b.db"}, ok: true, path: "s.db", backup: "-b.db"},
		{args: []string{"b.db", "--help"}, code: 0,
			stdout: "usage: ticketsync state restore BACKUP [--path FILE]\n\nRestore.\n\n  --path FILE  the state FILE\n"},
		{args: []string{"-h"}, code: 0,
			stdout: "usage: ticketsync state restore BACKUP [--path FILE]\n\nRestore.\n\n  --path FILE  the state FILE\n"},
		{args: []string{"b.db", "c.db"}, code: 2,
			stderr: "ticketsync state restore: unexpected argument \"c.db\"\nusage: ticketsync state restore BACKUP [--path FILE]\nrun 'ticketsync state restore --help' for details\n"},
		{args: []string{"--path", "s.db"}, code: 2,
			stderr: "ticketsync state restore: missing BACKUP\nusage: ticketsync state restore BACKUP [--path FILE]\nrun 'ticketsync state restore --help' for details\n"},
		{args: []string{"b.db", "-x"}, code: 2,
			stderr: "ticketsync state restore: unknown flag --x\nusage: ticketsync state restore BACKUP [--path FILE]\nrun 'ticketsync state restore --help' for details\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := spec.New()
			path := cmd.Flags.String("path", "", "the state `FILE`")
			var out, errOut bytes.Buffer
			code, ok := cmd.Parse(tc.args, &out, &errOut)
			if ok != tc.ok || code != tc.code {
				t.Fatalf("Parse = %d, %v; want %d, %v (stderr %q)", code, ok, tc.code, tc.ok, errOut.String())
			}
			if out.String() != tc.stdout || errOut.String() != tc.stderr {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant stdout:\n%s\nstderr:\n%s", out.String(), errOut.String(), tc.stdout, tc.stderr)
			}
			if ok && (*path != tc.path || cmd.Positional()[0] != tc.backup) {
				t.Errorf("path %q, backup %q", *path, cmd.Positional()[0])
			}
		})
	}
}

// TestVerbHelp: every verb answers each spelling of help on stdout.
func TestVerbHelp(t *testing.T) {
	for _, v := range verbs {
		for _, args := range [][]string{{v.name, "--help"}, {v.name, "-h"}, {"help", v.name}, {v.name, "x", "--help"}} {
			h := newHarness(t)
			r := h.run(args...)
			if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "usage: ticketsync ticket "+v.name+" ") {
				t.Errorf("%q: exit %d, stderr %q, stdout:\n%s", args, r.code, r.stderr, r.stdout)
			}
		}
	}
}

// TestCreateQuiet: --quiet prints the new id alone, which the next
// command takes as its REF.
func TestCreateQuiet(t *testing.T) {
	h := newHarness(t)
	id := strings.TrimSpace(h.mustRun("create", "--subject", "Printer on fire", "--priority", "urgent", "--quiet"))
	if id != "46" {
		t.Fatalf("create --quiet printed %q, want the new id alone", id)
	}
	out := h.mustRun("show", id, "--json")
	var tk struct {
		ID      int    `json:"id"`
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal([]byte(out), &tk); err != nil || tk.ID != 46 || tk.Subject != "Printer on fire" {
		t.Errorf("show %s: %+v %v\n%s", id, tk, err, out)
	}

	r := h.run("create", "--subject", "x", "--priority", "low", "--quiet", "--json")
	if r.code != exitUsage || !strings.HasPrefix(r.stderr, "ticketsync ticket create: --quiet and --json exclude each other\n") {
		t.Errorf("--quiet --json: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestStatusDisplay: a status or priority reads the same in list, show and
// the confirmation of a change, however it was typed.
func TestStatusDisplay(t *testing.T) {
	for _, typed := range []string{"in_progress", "In Progress", "in-progress", "1"} {
		h := newHarness(t)
		if got := h.mustRun("status", "3", typed); got != "ticket #3 status: In Progress\n" {
			t.Errorf("status 3 %q printed %q", typed, got)
		}
		if got := h.mustRun("show", "3"); !strings.Contains(got, "status:      In Progress\n") {
			t.Errorf("show 3 after status %q:\n%s", typed, got)
		}
		if got := h.mustRun("list", "--status", typed); !strings.Contains(got, "  In Progress  ") || strings.Contains(got, "in_progress") {
			t.Errorf("list --status %q:\n%s", typed, got)
		}
	}
	h := newHarness(t)
	if got := h.mustRun("reply", "45", "On it.", "--status", "pending"); !strings.HasSuffix(got, ", status: Pending\n") {
		t.Errorf("reply --status pending printed %q", got)
	}
	if got := h.mustRun("priority", "45", "URGENT"); got != "ticket #45 priority: Urgent\n" {
		t.Errorf("priority 45 URGENT printed %q", got)
	}
}

package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// listed returns the names in the list under heading ("commands:",
// "verbs:") of a help text: the first column, which may be two words.
func listed(t *testing.T, help, heading string) []string {
	t.Helper()
	_, list, ok := strings.Cut(help, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("no %q in\n%s", heading, help)
	}
	var names []string
	for line := range strings.SplitSeq(list, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		name, _, _ := strings.Cut(strings.TrimSpace(line), "  ")
		names = append(names, name)
	}
	return names
}

// singleDash finds a flag spelled the Go way ("-config") at the start of
// a help line, where ours say "--config".
var singleDash = regexp.MustCompile(`(?m)^\s+-[^-\s]`)

// TestHelp asks every command, subcommand and verb for help in each
// spelling: usage on stdout, nothing on stderr, exit 0, flags as --name.
func TestHelp(t *testing.T) {
	_, top, _ := run(t, "--help")
	commands := listed(t, top, "commands:")
	want := []string{"run", "demo", "check-config", "ticket", "fake-taskip", "mail authorize",
		"state dump", "state check", "state restore", "healthcheck", "version"}
	for _, name := range want {
		if !slices.Contains(commands, name) {
			t.Errorf("ticketsync --help does not list %q: %q", name, commands)
		}
	}
	// The groups print their own list; the ticket verbs come from it, so
	// a new verb is covered without touching this test.
	commands = append(commands, "state", "mail")
	_, ticketHelp, _ := run(t, "ticket", "--help")
	for _, verb := range listed(t, ticketHelp, "verbs:") {
		commands = append(commands, "ticket "+verb)
	}

	for _, name := range append([]string{""}, commands...) {
		words := strings.Fields(name)
		variants := [][]string{
			append(slices.Clone(words), "--help"),
			append(slices.Clone(words), "-h"),
			append(slices.Clone(words), "-help"),
			append([]string{"help"}, words...),
		}
		var first string
		for i, args := range variants {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := run(t, args...)
				if code != 0 || errOut != "" {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				head := "usage: " + strings.TrimSpace("ticketsync "+name)
				if !strings.HasPrefix(out, head+" ") && !strings.HasPrefix(out, head+"\n") {
					t.Fatalf("stdout does not start with %q:\n%s", head, out)
				}
				// The usage line may wrap; the description follows the first blank line.
				_, rest, _ := strings.Cut(out, "\n\n")
				if summary, _, _ := strings.Cut(rest, "\n"); !strings.HasSuffix(summary, ".") {
					t.Errorf("no one-line description after the usage line:\n%s", out)
				}
				if m := singleDash.FindString(out); m != "" {
					t.Errorf("single-dash flag %q in:\n%s", m, out)
				}
				if i == 0 {
					first = out
				} else if out != first {
					t.Errorf("differs from %q --help:\n%s\nwant:\n%s", name, out, first)
				}
			})
		}
	}
}

// TestUsageErrors: a stray argument is named as the error, flags are
// accepted after arguments, and every usage error goes to stderr with
// exit 2 and the usage line.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the first line of stderr
	}{
		{[]string{"run", "extra", "--config", "f.yaml"}, `ticketsync run: unexpected argument "extra"`},
		{[]string{"run", "--config", "f.yaml", "extra"}, `ticketsync run: unexpected argument "extra"`},
		{[]string{"run", "--bogus"}, `ticketsync run: unknown flag --bogus`},
		{[]string{"run"}, `ticketsync run: --config FILE is required`},
		{[]string{"run", "--config"}, `ticketsync run: flag needs an argument: --config`},
		{[]string{"demo", "extra"}, `ticketsync demo: unexpected argument "extra"`},
		{[]string{"fake-taskip", "extra", "--listen", "127.0.0.1:0"}, `ticketsync fake-taskip: unexpected argument "extra"`},
		{[]string{"check-config", "extra", "--config", "f.yaml"}, `ticketsync check-config: unexpected argument "extra"`},
		{[]string{"check-config", "--bogus"}, `ticketsync check-config: unknown flag --bogus`},
		{[]string{"check-config", "--timeout", "soon"}, `ticketsync check-config: invalid value "soon" for flag --timeout: parse error`},
		{[]string{"state", "dump", "extra", "--path", "s.db"}, `ticketsync state dump: unexpected argument "extra"`},
		{[]string{"state", "restore", "a.db", "b.db", "--path", "s.db"}, `ticketsync state restore: unexpected argument "b.db"`},
		{[]string{"state", "restore", "--path", "s.db"}, `ticketsync state restore: missing BACKUP`},
		{[]string{"state"}, `ticketsync state: missing verb`},
		{[]string{"state", "frobnicate"}, `ticketsync state: unknown verb "frobnicate"`},
		{[]string{"mail", "authorize", "extra", "--provider", "google", "--client-id", "x"}, `ticketsync mail authorize: unexpected argument "extra"`},
		{[]string{"mail", "authorize", "--client-id", "x"}, `ticketsync mail authorize: --provider is required`},
		{[]string{"mail"}, `ticketsync mail: missing verb`},
		{[]string{"ticket", "list", "extra"}, `ticketsync ticket list: unexpected argument "extra"`},
		{[]string{"ticket", "create", "--quiet", "--json", "--subject", "s", "--priority", "low"}, `ticketsync ticket create: --quiet and --json exclude each other`},
		{[]string{"version", "extra"}, `ticketsync version: unexpected argument "extra"`},
		{[]string{"frobnicate"}, `ticketsync: unknown command "frobnicate"`},
		{nil, `ticketsync: missing command`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			if code != 2 || out != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out)
			}
			if got, _, _ := strings.Cut(errOut, "\n"); got != tc.want {
				t.Errorf("stderr starts %q, want %q\n%s", got, tc.want, errOut)
			}
			if !strings.Contains(errOut, "\nusage: ") && !strings.Contains(errOut, "s: ") {
				t.Errorf("neither the usage line nor the list of commands follows the error:\n%s", errOut)
			}
		})
	}
	// healthcheck keeps exit code 1 for usage errors (Docker reserves 2),
	// in the same words.
	code, _, errOut := run(t, "healthcheck", "extra")
	if first, _, _ := strings.Cut(errOut, "\n"); code != 1 || first != `ticketsync healthcheck: unexpected argument "extra"` {
		t.Errorf("healthcheck extra: exit %d, stderr %q", code, errOut)
	}
	// Help wins over a stray argument, wherever --help is.
	if code, out, _ := run(t, "run", "extra", "--help"); code != 0 || !strings.HasPrefix(out, "usage: ticketsync run ") {
		t.Errorf("run extra --help: exit %d\n%s", code, out)
	}
}

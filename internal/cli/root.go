// Package cli implements `ticketsync ticket <verb>`, the operator's direct
// access to every TaskIP ticket endpoint, and the command-line conventions
// every ticketsync command follows (Spec, Command, Group: --help on stdout,
// flags anywhere, usage errors with exit 2). cmd/ticketsync only wires them
// up, so everything a user can observe (flags, output, exit codes) lives and
// is tested here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Env is what a run may touch of the outside world; tests replace all of it.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads TASKIP_BASE_URL and TASKIP_SECRET_KEY; default os.Getenv.
	Getenv func(string) string
	// ConnectConfig builds a client from --config FILE; the main package
	// wires it to internal/config. When nil, --config is an error.
	ConnectConfig func(path string) (*taskip.Client, error)
	// Now anchors relative times ("3h ago"); default time.Now.
	Now func() time.Time
}

func (e Env) withDefaults() Env {
	if e.Stdout == nil {
		e.Stdout = os.Stdout
	}
	if e.Stderr == nil {
		e.Stderr = os.Stderr
	}
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	return e
}

// Environment variables read when --config is not given.
const (
	envBaseURL   = "TASKIP_BASE_URL"
	envSecretKey = "TASKIP_SECRET_KEY"
)

// Exit codes of RunTicket.
const (
	exitOK    = 0
	exitError = 1 // the API or the system failed
	exitUsage = 2 // the command line is wrong
)

// usageError marks a mistake in the command line: exit 2 and the verb's
// usage, as opposed to a failure of the API (exit 1).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

// session is one invocation: environment, global flags and the client,
// connected on first use so that a usage error never needs credentials.
type session struct {
	env        Env
	jsonOut    bool
	configPath string
	client     *taskip.Client
	// secret is scrubbed from every message we print, in case a server
	// echoes the header back in an error body.
	secret string
	// prefix starts every error line: "ticketsync ticket reply".
	prefix string
}

// RunTicket runs `ticket <verb> [flags] [args]` (args excludes "ticket") and
// returns the process exit code: 0 ok, 1 API/runtime error, 2 usage error.
func RunTicket(ctx context.Context, env Env, args []string) int {
	s := &session{env: env.withDefaults(), prefix: "ticketsync ticket"}
	group := ticketGroup()
	if len(args) == 0 {
		return group.UsageError(s.env.Stderr, usagef("missing verb"))
	}
	name := args[0]
	if name == "help" || IsHelp(name) {
		return s.help(args[1:])
	}
	v := lookupVerb(name)
	if v == nil {
		return group.UsageError(s.env.Stderr, usagef("unknown verb %q", name))
	}
	return s.runVerb(ctx, v, args[1:])
}

func (s *session) help(args []string) int {
	if len(args) == 0 {
		ticketGroup().WriteHelp(s.env.Stdout)
		return exitOK
	}
	v := lookupVerb(args[0])
	if v == nil {
		return ticketGroup().UsageError(s.env.Stderr, usagef("unknown verb %q", args[0]))
	}
	cmd, _ := s.command(v)
	cmd.WriteHelp(s.env.Stdout)
	return exitOK
}

// command builds the verb's Command with the flags every verb takes.
func (s *session) command(v *verb) (*Command, action) {
	cmd := v.spec().New()
	cmd.shared = []string{"config", "json"}
	cmd.Flags.StringVar(&s.configPath, "config", "", "connect with the TaskIP section of the daemon's config `FILE`")
	cmd.Flags.BoolVar(&s.jsonOut, "json", false, "print the result as JSON instead of a table")
	return cmd, v.define(cmd.Flags)
}

func (s *session) runVerb(ctx context.Context, v *verb, args []string) int {
	cmd, act := s.command(v)
	s.prefix = "ticketsync " + cmd.Name
	if code, ok := cmd.Parse(args, s.env.Stdout, s.env.Stderr); !ok {
		return code
	}
	if err := act(ctx, s, cmd.Positional()); err != nil {
		return s.fail(cmd, err)
	}
	return exitOK
}

// fail reports err and returns its exit code.
func (s *session) fail(cmd *Command, err error) int {
	s.printError(err)
	var ue usageError
	if errors.As(err, &ue) {
		cmd.writeHint(s.env.Stderr)
		return exitUsage
	}
	return exitError
}

// printError writes one "ticketsync ticket VERB: ..." line, then the detail an operator
// needs to act: one line per field error of a 422 and a hint for the cases
// where the next step is not obvious.
func (s *session) printError(err error) {
	msg := err.Error()
	var apiErr *taskip.APIError
	hasAPIErr := errors.As(err, &apiErr)
	if hasAPIErr && len(apiErr.Fields) > 0 {
		// APIError.Error folds the field errors into its one line; they
		// read better one per line below it.
		short := *apiErr
		short.Fields = nil
		msg = strings.Replace(msg, apiErr.Error(), short.Error(), 1)
	}
	lines := []string{s.prefix + ": " + msg}
	if hasAPIErr {
		keys := make([]string, 0, len(apiErr.Fields))
		for k := range apiErr.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, m := range apiErr.Fields[k] {
				lines = append(lines, fmt.Sprintf("  %s: %s", k, m))
			}
		}
	}
	switch {
	case errors.Is(err, taskip.ErrUnauthorized):
		lines = append(lines, "  check "+envSecretKey+" (or the secret_key of --config)")
	case errors.Is(err, taskip.ErrOutcomeUnknown):
		lines = append(lines, "  the change may have been applied; check the ticket before trying again")
	}
	out := strings.Join(lines, "\n") + "\n"
	if s.secret != "" {
		out = strings.ReplaceAll(out, s.secret, "[redacted]")
	}
	io.WriteString(s.env.Stderr, out)
}

// api returns the client, connecting on first use.
func (s *session) api() (*taskip.Client, error) {
	if s.client != nil {
		return s.client, nil
	}
	if s.configPath != "" {
		if s.env.ConnectConfig == nil {
			return nil, errors.New("config support not wired")
		}
		c, err := s.env.ConnectConfig(s.configPath)
		if err != nil {
			return nil, err
		}
		s.client = c
		return c, nil
	}
	key := s.env.Getenv(envSecretKey)
	if key == "" {
		return nil, usagef("%s is not set (or use --config FILE)", envSecretKey)
	}
	base := s.env.Getenv(envBaseURL)
	if base == "" {
		base = taskip.DefaultBaseURL
	}
	s.secret = key
	c, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: key, UserAgent: "ticketsync-cli"})
	if err != nil {
		// taskip's message repeats the URL, which may carry credentials.
		return nil, usagef("%s must be an absolute http(s) URL", envBaseURL)
	}
	s.client = c
	return c, nil
}

func (s *session) now() time.Time { return s.env.Now() }

// Package cli implements `ticketsync ticket <verb>`, the operator's direct
// access to every TaskIP ticket endpoint. cmd/ticketsync only wires it up, so
// everything a user can observe (flags, output, exit codes) lives and is
// tested here.
package cli

import (
	"context"
	"errors"
	"flag"
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
}

// RunTicket runs `ticket <verb> [flags] [args]` (args excludes "ticket") and
// returns the process exit code: 0 ok, 1 API/runtime error, 2 usage error.
func RunTicket(ctx context.Context, env Env, args []string) int {
	s := &session{env: env.withDefaults()}
	if len(args) == 0 {
		s.printError(usagef("missing verb"))
		writeVerbList(s.env.Stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		return s.help(args[1:])
	}
	v := lookupVerb(name)
	if v == nil {
		s.printError(usagef("unknown verb %q", name))
		writeVerbList(s.env.Stderr)
		return exitUsage
	}
	return s.runVerb(ctx, v, args[1:])
}

func (s *session) help(args []string) int {
	if len(args) == 0 {
		writeUsage(s.env.Stdout)
		return exitOK
	}
	v := lookupVerb(args[0])
	if v == nil {
		s.printError(usagef("unknown verb %q", args[0]))
		writeVerbList(s.env.Stderr)
		return exitUsage
	}
	fs, _ := s.flagSet(v)
	writeVerbHelp(s.env.Stdout, v, fs)
	return exitOK
}

// flagSet builds the verb's FlagSet with the global flags added.
func (s *session) flagSet(v *verb) (*flag.FlagSet, action) {
	fs := flag.NewFlagSet("ticket "+v.name, flag.ContinueOnError)
	// The flag package would print its own error and usage; we print one
	// "ticketsync: ..." line and our usage instead, to Stderr.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&s.configPath, "config", "", "connect with the TaskIP section of the daemon's config `FILE`")
	fs.BoolVar(&s.jsonOut, "json", false, "print the result as JSON instead of a table")
	return fs, v.define(fs)
}

func (s *session) runVerb(ctx context.Context, v *verb, args []string) int {
	fs, act := s.flagSet(v)
	args, err := permute(fs, args)
	if err != nil {
		return s.fail(v, err)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeVerbHelp(s.env.Stdout, v, fs)
			return exitOK
		}
		return s.fail(v, usageError{msg: err.Error()})
	}
	pos := fs.Args()
	if err := v.checkArgs(pos); err != nil {
		return s.fail(v, err)
	}
	if err := act(ctx, s, pos); err != nil {
		return s.fail(v, err)
	}
	return exitOK
}

// fail reports err and returns its exit code.
func (s *session) fail(v *verb, err error) int {
	s.printError(err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(s.env.Stderr, "usage: %s\n", v.usageLine())
		fmt.Fprintf(s.env.Stderr, "run 'ticketsync ticket %s --help' for details\n", v.name)
		return exitUsage
	}
	return exitError
}

// printError writes one "ticketsync: ..." line, then the detail an operator
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
	lines := []string{"ticketsync: " + msg}
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

package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
)

// Spec describes one command line of ticketsync: "run", "state restore",
// "ticket reply". Every command, the ticket verbs included, is parsed and
// explained through it, so that --help, the place of flags and usage
// errors read the same whichever command an operator types.
type Spec struct {
	// Name follows "ticketsync" in usage lines and in messages.
	Name string
	// Synopsis follows "ticketsync <Name>" in the usage line: positional
	// arguments and flags, e.g. "BACKUP [--config FILE | --path FILE]".
	Synopsis string
	// Summary is one sentence, printed under the usage line and in the
	// command lists.
	Summary string
	// Details, when set, follows the flags in --help.
	Details string
	// Args names the positional arguments, all required; a last name
	// ending in "..." takes one or more.
	Args []string
}

// UsageLine is the first line of --help and of every usage error.
func (s Spec) UsageLine() string {
	return strings.TrimRight("ticketsync "+s.Name+" "+s.Synopsis, " ")
}

// Command is a Spec being parsed: define the flags on Flags, then Parse.
type Command struct {
	Spec
	Flags *flag.FlagSet
	// shared are flags every verb of a group takes; help lists them after
	// the command's own.
	shared []string
	pos    []string
}

// New returns a Command with an empty flag set.
func (s Spec) New() *Command {
	fs := flag.NewFlagSet(s.Name, flag.ContinueOnError)
	// Left to itself the flag package prints Go's "Usage of run:" with
	// single-dash flags to stderr; Parse reports help and errors in our
	// format instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &Command{Spec: s, Flags: fs}
}

// Parse parses args, with flags allowed before, between and after the
// positional arguments ("--" ends the flags). When ok is false the caller
// returns code at once: -h or --help printed the help on stdout (0), or a
// usage error went to stderr (2).
func (c *Command) Parse(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := c.parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		c.WriteHelp(stdout)
		return exitOK, false
	}
	return c.UsageError(stderr, err), false
}

func (c *Command) parse(args []string) error {
	args, err := permute(c.Flags, args)
	if err != nil {
		return err
	}
	if err := c.Flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{msg: doubleDash(err.Error())}
	}
	c.pos = c.Flags.Args()
	return checkArgs(c.Args, c.pos)
}

// Positional returns the positional arguments after Parse.
func (c *Command) Positional() []string { return c.pos }

// UsageError prints err with the usage line and returns exit code 2.
func (c *Command) UsageError(w io.Writer, err error) int {
	fmt.Fprintf(w, "ticketsync %s: %v\n", c.Name, err)
	c.writeHint(w)
	return exitUsage
}

// Usagef is UsageError with a formatted message.
func (c *Command) Usagef(w io.Writer, format string, args ...any) int {
	return c.UsageError(w, fmt.Errorf(format, args...))
}

// Fail prints err, a failure of the work rather than of the command line,
// and returns exit code 1.
func (c *Command) Fail(w io.Writer, err error) int {
	fmt.Fprintf(w, "ticketsync %s: %v\n", c.Name, err)
	return exitError
}

// writeHint follows a usage error: the usage line and where the rest is.
func (c *Command) writeHint(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\nrun 'ticketsync %s --help' for details\n", c.UsageLine(), c.Name)
}

// WriteHelp prints the usage line, the summary, the flags GNU-style
// (--name VALUE, the way the README and the usage lines spell them,
// rather than flag.PrintDefaults' single dash) and the details.
func (c *Command) WriteHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.UsageLine(), c.Summary)
	var own, shared []*flag.Flag
	c.Flags.VisitAll(func(f *flag.Flag) {
		if slices.Contains(c.shared, f.Name) {
			shared = append(shared, f)
		} else {
			own = append(own, f)
		}
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, group := range [][]*flag.Flag{own, shared} {
		if len(group) == 0 {
			continue
		}
		fmt.Fprintln(tw)
		for _, f := range group {
			fmt.Fprintf(tw, "  %s\t%s\n", flagName(f), flagUsage(f))
		}
	}
	tw.Flush()
	if c.Details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Details, "\n"))
	}
}

func flagName(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	if isBoolFlag(f) || name == "" {
		return "--" + f.Name
	}
	return "--" + f.Name + " " + name
}

// flagUsage adds the default the way flag.PrintDefaults does, but only
// for a default worth reading: not empty, zero or false.
func flagUsage(f *flag.Flag) string {
	_, usage := flag.UnquoteUsage(f)
	switch f.DefValue {
	case "", "0", "false", "[]":
		return usage
	}
	return fmt.Sprintf("%s (default %s)", usage, f.DefValue)
}

// checkArgs enforces the positional count, naming what is missing or
// which argument is one too many.
func checkArgs(names, pos []string) error {
	variadic := len(names) > 0 && strings.HasSuffix(names[len(names)-1], "...")
	if len(pos) < len(names) {
		return usagef("missing %s", strings.TrimSuffix(names[len(pos)], "..."))
	}
	if !variadic && len(pos) > len(names) {
		if slices.Contains(names, "TEXT") {
			// The likely cause: a text of several words typed unquoted.
			return usagef("unexpected argument %q (quote text that has spaces)", pos[len(names)])
		}
		return usagef("unexpected argument %q", pos[len(names)])
	}
	return nil
}

// flagError finds the flag named in the flag package's errors, which
// always spell it with one dash whatever the user typed. The value is
// quoted and may itself contain " for -", hence the anchored forms.
var flagError = regexp.MustCompile(`^(flag needs an argument: |invalid value ".*" for flag |invalid boolean value ".*" for )-`)

// doubleDash rewrites a flag package error to name the flag as our usage
// lines do, and says "unknown flag" for the one an operator meets most.
func doubleDash(msg string) string {
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	return flagError.ReplaceAllString(msg, "$1--")
}

// IsHelp reports whether arg asks for help, as the flag package takes it.
func IsHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// Group is a command made of verbs ("state", "ticket"), or the top level
// itself when Name is empty. It prints the list of its commands.
type Group struct {
	Name    string
	Summary string
	// Intro and Footer, when set, surround the list of commands in help.
	Intro, Footer string
	Commands      []Spec
}

func (g Group) noun() string {
	if g.Name == "" {
		return "command"
	}
	return "verb"
}

func (g Group) prefix() string { return strings.TrimSpace("ticketsync " + g.Name) }

// short is a command's name within the group.
func (g Group) short(s Spec) string {
	if g.Name == "" {
		return s.Name
	}
	return strings.TrimPrefix(s.Name, g.Name+" ")
}

// Lookup returns the command named name within the group.
func (g Group) Lookup(name string) (Spec, bool) {
	for _, s := range g.Commands {
		if g.short(s) == name {
			return s, true
		}
	}
	return Spec{}, false
}

// WriteHelp prints the group's usage and the summary of each command.
func (g Group) WriteHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: %s <%s> [flags] [args]\n\n%s\n", g.prefix(), g.noun(), g.Summary)
	if g.Intro != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(g.Intro, "\n"))
	}
	fmt.Fprintf(w, "\n%ss:\n", g.noun())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range g.Commands {
		fmt.Fprintf(tw, "  %s\t%s\n", g.short(s), s.Summary)
	}
	tw.Flush()
	if g.Footer != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(g.Footer, "\n"))
	}
	fmt.Fprintf(w, "\nRun '%s <%s> --help' for the flags of one %s.\n", g.prefix(), g.noun(), g.noun())
}

// UsageError prints err and the names of the group's commands, and
// returns exit code 2.
func (g Group) UsageError(w io.Writer, err error) int {
	fmt.Fprintf(w, "%s: %v\n", g.prefix(), err)
	g.writeList(w)
	return exitUsage
}

// writeList names the commands on one line; for the top level a group
// such as "state" is named once.
func (g Group) writeList(w io.Writer) {
	var names []string
	for _, s := range g.Commands {
		n, _, _ := strings.Cut(g.short(s), " ")
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	fmt.Fprintf(w, "%ss: %s\nrun '%s --help' for usage\n", g.noun(), strings.Join(names, ", "), g.prefix())
}

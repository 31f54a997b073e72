package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// permute moves flags (and the value of each non-bool flag) in front of the
// positional arguments, because flag.Parse stops at the first positional and
// operators type `ticket reply 12 --status resolved "text"`. Everything after
// "--" stays positional, and a "--" is always emitted before the positionals
// so that one starting with "-" is never taken for a flag.
func permute(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		// An unknown flag is passed on alone; Parse reports it.
		f := fs.Lookup(name)
		if f == nil || isBoolFlag(f) {
			continue
		}
		// Checked here because Parse would take our "--" for the value.
		if i+1 == len(args) {
			return nil, usagef("flag needs an argument: --%s", name)
		}
		i++
		flags = append(flags, args[i])
	}
	return append(append(flags, "--"), pos...), nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// ref is a ticket reference as typed: an id or a uuid. Resolving fills in the
// other half, so confirmations can say "#46" whichever was given.
type ref struct {
	id   taskip.ID
	uuid string
}

func parseRef(s string) (ref, error) {
	if taskip.IsUUID(s) {
		return ref{uuid: strings.ToLower(s)}, nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n <= 0 {
		return ref{}, usagef("invalid ticket reference %q (want an id like 46 or #46, or a uuid)", s)
	}
	return ref{id: taskip.ID(n)}, nil
}

func parseRefs(args []string) ([]ref, error) {
	refs := make([]ref, len(args))
	for i, a := range args {
		r, err := parseRef(a)
		if err != nil {
			return nil, err
		}
		refs[i] = r
	}
	return refs, nil
}

func (r ref) String() string {
	if r.id != 0 {
		return "#" + r.id.String()
	}
	return r.uuid
}

// resolveID returns the id an /support-ticket/{id} or /ticket/{id} endpoint
// needs. The API has no lookup by uuid, so a uuid costs a list scan.
func resolveID(ctx context.Context, c *taskip.Client, r *ref) (taskip.ID, error) {
	if r.id != 0 {
		return r.id, nil
	}
	t, err := c.FindByUUID(ctx, r.uuid)
	if err != nil {
		return 0, err
	}
	r.id = t.ID
	return r.id, nil
}

// resolveUUID returns the uuid a by-uuid endpoint needs, fetching the ticket
// when only its id was given.
func resolveUUID(ctx context.Context, c *taskip.Client, r *ref) (string, error) {
	if r.uuid != "" {
		return r.uuid, nil
	}
	t, err := c.GetTicket(ctx, r.id)
	if err != nil {
		return "", err
	}
	if t.UUID == "" {
		return "", fmt.Errorf("ticket %s: the server sent no uuid, which this endpoint needs", r)
	}
	r.uuid = t.UUID
	return r.uuid, nil
}

func statusChoices() string   { return strings.Join(taskip.StatusNames(), ", ") }
func priorityChoices() string { return strings.Join(taskip.PriorityNames(), ", ") }

func parseStatus(s string) (taskip.Status, error) {
	st, err := taskip.ParseStatus(s)
	if err != nil {
		return st, usageError{msg: err.Error()}
	}
	return st, nil
}

func parsePriority(s string) (taskip.Priority, error) {
	p, err := taskip.ParsePriority(s)
	if err != nil {
		return p, usageError{msg: err.Error()}
	}
	return p, nil
}

func parsePositiveID(what, s string) (taskip.ID, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("invalid %s %q (want a positive number)", what, s)
	}
	return taskip.ID(n), nil
}

// The flag.Value types below stay nil until set, so "not given" and "given
// as zero" differ: update sends only what was given, and status 0 is "open".

type statusFlag struct{ v *taskip.Status }

func (f *statusFlag) Set(s string) error {
	st, err := taskip.ParseStatus(s)
	if err != nil {
		return err
	}
	f.v = &st
	return nil
}

func (f *statusFlag) String() string {
	if f == nil || f.v == nil {
		return ""
	}
	return f.v.String()
}

type priorityFlag struct{ v *taskip.Priority }

func (f *priorityFlag) Set(s string) error {
	p, err := taskip.ParsePriority(s)
	if err != nil {
		return err
	}
	f.v = &p
	return nil
}

func (f *priorityFlag) String() string {
	if f == nil || f.v == nil {
		return ""
	}
	return f.v.String()
}

type idFlag struct{ v *taskip.ID }

func (f *idFlag) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive number")
	}
	id := taskip.ID(n)
	f.v = &id
	return nil
}

func (f *idFlag) String() string {
	if f == nil || f.v == nil {
		return ""
	}
	return f.v.String()
}

func (f *idFlag) value() taskip.ID {
	if f.v == nil {
		return 0
	}
	return *f.v
}

type stringFlag struct{ v *string }

func (f *stringFlag) Set(s string) error { f.v = &s; return nil }

func (f *stringFlag) String() string {
	if f == nil || f.v == nil {
		return ""
	}
	return *f.v
}

// listFlag is a repeatable string flag (--tag a --tag b).
type listFlag []string

func (f *listFlag) Set(s string) error { *f = append(*f, s); return nil }
func (f *listFlag) String() string     { return strings.Join(*f, ",") }

// dateFlag holds a YYYY-MM-DD date, checked here so a typo is a usage error
// rather than a silently ignored filter.
type dateFlag string

func (f *dateFlag) Set(s string) error {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return fmt.Errorf("want a date like 2024-01-31")
	}
	*f = dateFlag(s)
	return nil
}

func (f *dateFlag) String() string { return string(*f) }

// choiceFlag accepts one of a fixed set of words.
type choiceFlag struct {
	choices []string
	v       string
}

func (f *choiceFlag) Set(s string) error {
	for _, c := range f.choices {
		if strings.EqualFold(s, c) {
			f.v = c
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(f.choices, ", "))
}

func (f *choiceFlag) String() string {
	if f == nil {
		return ""
	}
	return f.v
}

// positiveInt is an int flag that rejects zero and negatives.
type positiveInt int

func (f *positiveInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive number")
	}
	*f = positiveInt(n)
	return nil
}

func (f *positiveInt) String() string {
	if f == nil || *f == 0 {
		return ""
	}
	return strconv.Itoa(int(*f))
}

// byID connects and resolves the ticket's numeric id, for the endpoints
// addressed by id.
func (s *session) byID(ctx context.Context, r *ref) (*taskip.Client, taskip.ID, error) {
	c, err := s.api()
	if err != nil {
		return nil, 0, err
	}
	id, err := resolveID(ctx, c, r)
	return c, id, err
}

// byUUID connects and resolves the ticket's uuid, for the endpoints
// addressed by uuid.
func (s *session) byUUID(ctx context.Context, r *ref) (*taskip.Client, string, error) {
	c, err := s.api()
	if err != nil {
		return nil, "", err
	}
	uuid, err := resolveUUID(ctx, c, r)
	return c, uuid, err
}

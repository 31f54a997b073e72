package bridge

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
)

// What a first start does with the mail already in the mailbox
// (IntakeConfig.ImportExisting, `run --import-existing`).
const (
	// ImportUnseen imports unread mail received within the import window;
	// the rest is history.
	ImportUnseen = "unseen"
	// ImportNone imports nothing: only mail arriving from now on.
	ImportNone = "none"
	// ImportAll imports every message, oldest first.
	ImportAll = "all"
)

// startCursor places the cursor in a mailbox the intake has no position in:
// the first start, a lost state file, or a UIDVALIDITY change that voided
// the old position. A support mailbox usually holds years of mail that was
// answered long ago; turning it into tickets would acknowledge every past
// customer and flood TaskIP. So the mail already there is history, left as
// it is (no flag, no move), except the mail that is still customers'
// business: unread and recent (ImportUnseen), or after a UIDVALIDITY change
// anything recent, read or not (the server renumbered mail the intake may
// have handled already; Message-ID dedupe recognises that, and the window
// keeps older mail from being looked at at all).
func (in *Intake) startCursor(ctx context.Context, old state.Cursor) error {
	mode := in.cfg.ImportExisting
	if mode == "" {
		mode = ImportUnseen
	}
	renumbered := old.UIDValidity != 0
	since := in.cfg.Now().Add(-in.cfg.ImportWindow)
	opts := imap.SurveyOptions{Since: since, UnreadOnly: true}
	switch {
	case renumbered:
		opts.UnreadOnly = false
	case mode == ImportAll || mode == ImportNone:
		opts = imap.SurveyOptions{SizeOnly: true}
	}
	h, err := in.cfg.Inbox.Survey(ctx, opts)
	if err != nil {
		return fmt.Errorf("survey %s: %w", in.cfg.Mailbox, err)
	}
	c := state.Cursor{UIDValidity: h.Status.UIDValidity, LastUID: h.Top, Pending: h.Import}
	var summary string
	window := "in the last " + span(in.cfg.ImportWindow)
	switch {
	case renumbered:
		summary = fmt.Sprintf("UIDVALIDITY changed (%d to %d); %s received %s looked at again, already imported mail recognised by Message-ID; the rest left as history",
			old.UIDValidity, h.Status.UIDValidity, messages(len(h.Import)), window)
	case mode == ImportAll:
		// Everything, oldest first: the cursor starts below the first UID
		// and the mailbox is read like a backlog.
		c = state.Cursor{UIDValidity: h.Status.UIDValidity}
		summary = "all imported, oldest first (--import-existing all); only mail received in the last " +
			span(in.cfg.AcknowledgeMaxAge) + " is acknowledged"
	case mode == ImportNone:
		summary = "none imported (--import-existing none); mail arriving from now on is"
	default:
		summary = fmt.Sprintf("%s unread %s imported; the rest left as history", count(len(h.Import)), window)
	}
	if err := in.cfg.Store.SetCursor(in.cfg.Mailbox, c); err != nil {
		return err
	}
	in.log.Info(fmt.Sprintf("%s: %s; %s", in.cfg.Mailbox, messages(int(h.Status.Messages)), summary),
		"uidvalidity", c.UIDValidity, "start_uid", c.LastUID, "to_import", len(c.Pending))
	return nil
}

// list returns the next messages to read after UID after: first the
// imports the cursor's start left pending, then the mail above it.
// fromPending tells which of the two it listed.
func (in *Intake) list(ctx context.Context, cur state.Cursor, after uint32) (envs []imap.Envelope, status imap.MailboxStatus, fromPending []uint32, err error) {
	var pending []uint32
	for _, uid := range cur.Pending {
		if uid > after {
			pending = append(pending, uid)
			if len(pending) == in.cfg.BatchSize {
				break
			}
		}
	}
	if len(pending) > 0 {
		envs, status, err = in.cfg.Inbox.ListSet(ctx, pending)
		return envs, status, pending, err
	}
	envs, status, err = in.cfg.Inbox.List(ctx, max(after, cur.LastUID), in.cfg.BatchSize)
	return envs, status, nil, err
}

// acknowledges decides whether a new ticket's mail gets an acknowledgement:
// not when the mail asks for none (mapping.ShouldAcknowledge), and not when
// it was received long before the intake read it. An answer to old mail
// (imported on purpose, or a backlog after an outage) tells the customer
// nothing but that their mail sat unread.
func (in *Intake) acknowledges(it *item) bool {
	if it.act.Kind != mapping.ActCreate || !mapping.ShouldAcknowledge(it.email) {
		return false
	}
	// A forged From would aim our mail at whoever it names: only a sender
	// authentication vouches for is answered, once it is on.
	switch auth := it.ictx.Auth.Verdict; {
	case auth == mapping.AuthFail:
		return false
	case it.ictx.AuthOn && auth != mapping.AuthPass && !in.cfg.AcknowledgeUnauthenticated:
		return false
	}
	received := it.env.Received
	if received.IsZero() {
		received = it.email.Date
	}
	if received.IsZero() {
		return true
	}
	return in.cfg.Now().Sub(received) <= in.cfg.AcknowledgeMaxAge
}

// span writes a duration the way the log line reads best: "7 days",
// "36 hours", or Go's own form.
func span(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	}
	return d.String()
}

func messages(n int) string { return plural(n, "message") }

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return count(n) + " " + noun + "s"
}

// count writes n with thousands separators, as a person reads a mailbox's
// size: 4,812.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

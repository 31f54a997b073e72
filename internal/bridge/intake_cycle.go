package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// item is one message on its way through a batch.
type item struct {
	env   mail.Envelope
	key   string // dedupe key: Message-ID, or a digest for mail without one
	msg   *mail.Message
	email mapping.Email
	ictx  mapping.IntakeContext
	act   mapping.Action
	// replyCountBefore lets reconciliation tell whether a reply landed when
	// the server does not list replies.
	replyCountBefore int

	outcome outcome
	reason  string // skip reason or failure text
	ticket  mapping.Ticket
}

type outcome int

const (
	pending     outcome = iota
	seen                // recorded earlier; only the mailbox and cursor lag
	skipped             // guard said no; recorded, not acted on
	done                // TaskIP writes made
	quarantined         // can never succeed; moved to the failed mailbox
)

// Cycle reconciles unfinished intents, then works through every message above
// the cursor in UID order, a batch at a time. A transient failure stops it;
// the next cycle starts again at the first unhandled message.
func (in *Intake) Cycle(ctx context.Context) error {
	if err := in.reconcile(ctx); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for ctx.Err() == nil {
		cur, err := in.cfg.Store.Cursor(in.cfg.Mailbox)
		if err != nil {
			return err
		}
		envs, status, err := in.cfg.Inbox.List(ctx, cur.LastUID, in.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("list %s: %w", in.cfg.Mailbox, err)
		}
		if status.UIDValidity != cur.UIDValidity {
			// UIDs of the old validity mean nothing now: start over at the
			// beginning; Message-ID dedupe keeps anything from repeating.
			if cur.UIDValidity != 0 {
				in.log.Warn("UIDVALIDITY changed; rescanning the mailbox", "old", cur.UIDValidity, "new", status.UIDValidity)
			}
			if err := in.cfg.Store.SetCursor(in.cfg.Mailbox, state.Cursor{UIDValidity: status.UIDValidity}); err != nil {
				return err
			}
			continue
		}
		if len(envs) == 0 {
			in.metrics.lastPoll.SetToCurrentTime()
			return nil
		}
		handled, err := in.processBatch(ctx, status.UIDValidity, envs)
		if err != nil {
			return err
		}
		if handled == len(envs) && len(envs) < in.cfg.BatchSize {
			in.metrics.lastPoll.SetToCurrentTime()
			return nil
		}
	}
	return nil
}

// processBatch runs the pipeline of SPEC 6 over envs and returns how many
// leading messages were handled (the cursor moved past them).
func (in *Intake) processBatch(ctx context.Context, validity uint32, envs []mail.Envelope) (int, error) {
	// In-flight work finishes even when shutdown begins; only the start of
	// new messages checks ctx.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.ItemTimeout)
	defer cancel()

	items, prepErr := in.prepare(ctx, work, validity, envs)
	defer func() {
		for _, it := range items {
			_ = it.msg.Cleanup()
		}
	}()
	if len(items) == 0 {
		return 0, prepErr
	}
	if err := in.writeIntents(validity, items); err != nil {
		return 0, err
	}
	execErr := in.executeAll(ctx, work, items)
	if err := in.complete(items); err != nil {
		return 0, err
	}
	handled, markErr := in.markAll(work, items)
	if handled > 0 {
		last := items[handled-1].env.UID
		if err := in.cfg.Store.SetCursor(in.cfg.Mailbox, state.Cursor{UIDValidity: validity, LastUID: last}); err != nil {
			return 0, err
		}
	}
	return handled, errors.Join(prepErr, execErr, markErr)
}

// prepare reads and decides each message until one cannot be prepared now,
// or one answers a message earlier in this batch (whose ticket does not exist
// yet: it waits for the next batch so it threads correctly).
func (in *Intake) prepare(ctx, work context.Context, validity uint32, envs []mail.Envelope) ([]*item, error) {
	var items []*item
	keys := map[string]bool{}
	for _, env := range envs {
		if ctx.Err() != nil {
			break
		}
		it := &item{env: env, key: state.NormalizeMessageID(env.MessageID)}
		if it.key != "" {
			if _, ok, err := in.cfg.Store.MessageTicket(it.key); err != nil {
				return items, err
			} else if ok {
				it.outcome = seen
				in.metrics.duplicates.Inc()
				items = append(items, it)
				continue
			}
		}
		if err := in.load(work, it); err != nil {
			if !errors.Is(err, errPermanent) {
				return items, err
			}
			it.outcome, it.reason = quarantined, err.Error()
			if it.key == "" {
				// Unreadable and without a Message-ID: the mailbox position
				// is the only name it has.
				it.key = fmt.Sprintf("imap:%s:%d:%d", in.cfg.Mailbox, validity, env.UID)
			}
			in.log.Error("email cannot be read; quarantined", "uid", env.UID, "err", err)
			items = append(items, it)
			continue
		}
		if it.outcome == seen {
			items = append(items, it)
			continue
		}
		if keys[it.key] {
			// The same mail delivered twice into one batch.
			it.outcome = seen
			in.metrics.duplicates.Inc()
			items = append(items, it)
			continue
		}
		if answersBatch(it.email, keys) {
			_ = it.msg.Cleanup()
			break
		}
		keys[it.key] = true
		if reason := mapping.Screen(it.email, in.screening); reason != "" {
			it.outcome, it.reason = skipped, string(reason)
			items = append(items, it)
			continue
		}
		if err := in.lookup(work, it); err != nil {
			_ = it.msg.Cleanup()
			return items, err
		}
		items = append(items, it)
	}
	return items, nil
}

func answersBatch(e mapping.Email, keys map[string]bool) bool {
	for _, id := range append(append([]string(nil), e.InReplyTo...), e.References...) {
		if keys[state.NormalizeMessageID(id)] {
			return true
		}
	}
	return false
}

var errPermanent = errors.New("permanent")

// load fetches and parses one message. A message over the size limit is read
// by its header only; an unparseable one is a permanent failure.
func (in *Intake) load(ctx context.Context, it *item) error {
	opts := mail.ParseOptions{MaxMessageBytes: in.cfg.MaxMessageBytes, SpoolDir: in.cfg.SpoolDir}
	tooLarge := it.env.Size > in.cfg.MaxMessageBytes
	var parseErr error
	read := func(r io.Reader) error {
		it.msg, parseErr = mail.Parse(r, opts)
		return nil
	}
	var err error
	if tooLarge {
		err = in.cfg.Inbox.FetchHeader(ctx, it.env.UID, read)
	} else {
		err = in.cfg.Inbox.Fetch(ctx, it.env.UID, read)
	}
	if errors.Is(err, mail.ErrGone) {
		return fmt.Errorf("%w: uid %d vanished from the mailbox", errPermanent, it.env.UID)
	}
	if err != nil {
		return fmt.Errorf("fetch uid %d: %w", it.env.UID, err)
	}
	in.metrics.fetched.Inc()
	switch {
	case errors.Is(parseErr, mail.ErrMessageTooLarge):
		tooLarge = true
	case errors.Is(parseErr, mail.ErrMalformed):
		return fmt.Errorf("%w: uid %d: %v", errPermanent, it.env.UID, parseErr)
	case parseErr != nil:
		// The stream broke or the spool directory failed: try again later
		// rather than act on half a message.
		_ = it.msg.Cleanup()
		return fmt.Errorf("read uid %d: %w", it.env.UID, parseErr)
	}
	it.email = toEmail(it.msg, tooLarge, it.env.Size)
	if it.key == "" {
		it.key = mapping.DedupeKey(it.email)
		if _, ok, err := in.cfg.Store.MessageTicket(it.key); err != nil {
			return err
		} else if ok {
			it.outcome = seen
		}
	}
	return nil
}

func toEmail(m *mail.Message, tooLarge bool, size int64) mapping.Email {
	e := mapping.Email{
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References,
		FromName: m.From.Name, FromEmail: strings.ToLower(m.From.Email),
		DeliveredTo: m.DeliveredTo, ReturnPath: m.ReturnPath, EmptyReturnPath: m.EmptyReturnPath,
		Subject: m.Subject, Date: m.Date,
		AutoSubmitted: m.Header.AutoSubmitted, Precedence: m.Header.Precedence,
		XAutoreply: m.Header.XAutoreply, XAutorespond: m.Header.XAutorespond, ListID: m.Header.ListID,
		XTicketsync: m.Header.XTicketsync != nil, ContentType: m.ContentType,
		XPriority: m.Header.XPriority, Importance: m.Header.Importance,
		Text: m.Text, Stripped: mail.StripQuoted(m.Text), Problems: m.Problems,
		Size: max(m.Size, size), TooLarge: tooLarge,
	}
	for _, a := range m.To {
		e.To = append(e.To, a.Email)
	}
	for _, a := range m.Cc {
		e.Cc = append(e.Cc, a.Email)
	}
	for _, a := range m.Attachments {
		e.Attachments = append(e.Attachments, mapping.File{Name: a.Filename, Size: a.Size})
	}
	for _, r := range m.Refused {
		e.Refused = append(e.Refused, mapping.File{Name: r.Filename, Size: r.Size})
	}
	return e
}

// attachmentFiles streams the spooled attachments to TaskIP.
func attachmentFiles(m *mail.Message) []taskip.File {
	files := make([]taskip.File, 0, len(m.Attachments))
	for i := range m.Attachments {
		a := &m.Attachments[i]
		name := a.Filename
		if name == "" {
			name = fmt.Sprintf("attachment-%d", i+1)
		}
		files = append(files, taskip.File{Name: name, ContentType: a.ContentType, Open: a.Open})
	}
	return files
}

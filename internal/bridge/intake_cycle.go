package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

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
	replyID          int64 // the TaskIP reply made, when the server said

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
	in.cfg.Outbox.Wake() // acknowledgements were queued with the outcomes
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
// yet: it waits for the next batch so it threads correctly). Bodies come in
// one IMAP command; the TaskIP lookups run a few at a time.
func (in *Intake) prepare(ctx, work context.Context, validity uint32, envs []mail.Envelope) ([]*item, error) {
	loaded, loadErr := in.loadAll(work, envs)
	var items []*item
	var needLookup []int
	keys := map[string]bool{}
	cut := false
	for _, env := range envs {
		it, ok := loaded[env.UID]
		if !ok || ctx.Err() != nil || cut {
			if ok {
				_ = it.msg.Cleanup()
			}
			cut = true
			continue
		}
		switch {
		case it.outcome == seen:
			in.metrics.duplicates.Inc()
		case it.outcome == quarantined:
			if it.key == "" {
				// Unreadable and without a Message-ID: the mailbox position
				// is the only name it has.
				it.key = fmt.Sprintf("imap:%s:%d:%d", in.cfg.Mailbox, validity, env.UID)
			}
			in.log.Error("email cannot be read; quarantined", "uid", env.UID, "err", it.reason)
		case keys[it.key]:
			// The same mail delivered twice into one batch.
			it.outcome = seen
			in.metrics.duplicates.Inc()
		case answersBatch(it.email, keys):
			_ = it.msg.Cleanup()
			cut = true
			continue
		default:
			keys[it.key] = true
			if reason := mapping.Screen(it.email, in.screening); reason != "" {
				it.outcome, it.reason = skipped, string(reason)
			} else {
				needLookup = append(needLookup, len(items))
			}
		}
		items = append(items, it)
	}
	if n, err := in.lookupAll(work, items, needLookup); err != nil {
		for _, it := range items[n:] {
			_ = it.msg.Cleanup()
		}
		return items[:n], errors.Join(loadErr, err)
	}
	return items, loadErr
}

// lookupAll runs the TaskIP lookups of the given items concurrently and
// returns how many leading items are ready: all, or up to the first failure.
func (in *Intake) lookupAll(ctx context.Context, items []*item, idx []int) (int, error) {
	errs := make([]error, len(items))
	sem := make(chan struct{}, lookupConcurrency)
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = in.lookup(ctx, items[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return i, err
		}
	}
	return len(items), nil
}

// lookupConcurrency bounds the parallel reads (contact search, ticket GET)
// one batch makes against TaskIP.
const lookupConcurrency = 8

func answersBatch(e mapping.Email, keys map[string]bool) bool {
	for _, id := range append(append([]string(nil), e.InReplyTo...), e.References...) {
		if keys[state.NormalizeMessageID(id)] {
			return true
		}
	}
	return false
}

var errPermanent = errors.New("permanent")

// loadAll fetches and parses the messages of a batch that are not known
// yet. It returns the items it could load, keyed by UID; it stops at the
// first message that could not be read for a transient reason, and the
// items after it are not loaded.
func (in *Intake) loadAll(ctx context.Context, envs []mail.Envelope) (map[uint32]*item, error) {
	loaded := map[uint32]*item{}
	var whole []uint32
	for _, env := range envs {
		it := &item{env: env, key: state.NormalizeMessageID(env.MessageID)}
		if it.key != "" {
			if _, ok, err := in.cfg.Store.MessageTicket(it.key); err != nil {
				return loaded, err
			} else if ok {
				it.outcome = seen
				loaded[env.UID] = it
				continue
			}
		}
		loaded[env.UID] = it
		if env.Size <= in.cfg.MaxMessageBytes {
			whole = append(whole, env.UID)
		}
	}
	opts := mail.ParseOptions{MaxMessageBytes: in.cfg.MaxMessageBytes, SpoolDir: in.cfg.SpoolDir}
	parsed := map[uint32]error{}
	missing, err := in.cfg.Inbox.FetchMany(ctx, whole, func(uid uint32, r io.Reader) error {
		it := loaded[uid]
		it.msg, parsed[uid] = mail.Parse(r, opts)
		return nil
	})
	if err != nil {
		for _, it := range loaded {
			_ = it.msg.Cleanup()
		}
		return nil, fmt.Errorf("fetch %d messages: %w", len(whole), err)
	}
	for _, uid := range missing {
		it := loaded[uid]
		it.outcome, it.reason = quarantined, fmt.Sprintf("uid %d vanished from the mailbox", uid)
	}
	for _, env := range envs {
		it := loaded[env.UID]
		if it.outcome != pending {
			continue
		}
		tooLarge := env.Size > in.cfg.MaxMessageBytes
		perr, fetched := parsed[env.UID]
		if tooLarge {
			err := in.cfg.Inbox.FetchHeader(ctx, env.UID, func(r io.Reader) error {
				it.msg, perr = mail.Parse(r, opts)
				return nil
			})
			if errors.Is(err, mail.ErrGone) {
				it.outcome, it.reason = quarantined, fmt.Sprintf("uid %d vanished from the mailbox", env.UID)
				continue
			}
			if err != nil {
				return in.dropFrom(loaded, envs, env.UID), fmt.Errorf("fetch header of uid %d: %w", env.UID, err)
			}
			fetched = true
		}
		if !fetched {
			continue
		}
		in.metrics.fetched.Inc()
		if err := in.settleParse(it, perr, tooLarge); err != nil {
			if errors.Is(err, errPermanent) {
				it.outcome, it.reason = quarantined, err.Error()
				continue
			}
			return in.dropFrom(loaded, envs, env.UID), err
		}
	}
	return loaded, nil
}

// dropFrom forgets the loaded items from uid on, cleaning their spools.
func (in *Intake) dropFrom(loaded map[uint32]*item, envs []mail.Envelope, uid uint32) map[uint32]*item {
	for _, env := range envs {
		if env.UID >= uid {
			if it, ok := loaded[env.UID]; ok {
				_ = it.msg.Cleanup()
				delete(loaded, env.UID)
			}
		}
	}
	return loaded
}

// settleParse turns a parse result into the item's email, or an error: a
// malformed message is permanent; a broken stream is retried later rather
// than acted on half read.
func (in *Intake) settleParse(it *item, parseErr error, tooLarge bool) error {
	switch {
	case errors.Is(parseErr, mail.ErrMessageTooLarge):
		tooLarge = true
	case errors.Is(parseErr, mail.ErrMalformed):
		return fmt.Errorf("%w: uid %d: %v", errPermanent, it.env.UID, parseErr)
	case parseErr != nil:
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

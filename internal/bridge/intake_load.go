package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// prepare reads and decides each message until one cannot be prepared now,
// or one answers a message earlier in this batch (whose ticket does not exist
// yet: it waits for the next batch so it threads correctly). Bodies come in
// one IMAP command; the TaskIP lookups run a few at a time.
//
// prev is the batch being written while this one is read ahead: a message
// repeating one of prev's is a duplicate, and one answering prev waits for
// refresh to look it up once prev's tickets exist. later is how many
// messages may follow this batch (behind), for the contact directory.
func (in *Intake) prepare(ctx, work context.Context, validity uint32, envs []imap.Envelope, prev *batch, later int) ([]*item, error) {
	loaded, loadErr := in.loadAll(work, envs)
	var items []*item
	var needLookup []int
	keys, prevKeys := map[string]bool{}, map[string]bool{}
	if prev != nil {
		for _, it := range prev.items {
			if it.key != "" {
				prevKeys[it.key] = true
			}
		}
	}
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
		case keys[it.key] || prevKeys[it.key]:
			// The same mail delivered twice into one batch, or into this
			// one and the one written meanwhile.
			it.outcome = seen
			in.metrics.duplicates.Inc()
		case answersBatch(it.email, keys):
			_ = it.msg.Cleanup()
			cut = true
			continue
		default:
			keys[it.key] = true
			reason := mapping.Screen(it.email, in.screening)
			switch {
			case reason != "":
				it.outcome, it.reason = skipped, string(reason)
			case answersBatch(it.email, prevKeys):
				it.afterPrev = true
			default:
				needLookup = append(needLookup, len(items))
			}
		}
		items = append(items, it)
	}
	in.primeContacts(work, items, needLookup, later)
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
	for j, err := range eachWide(len(idx), lookupConcurrency, func(j int) error { return in.lookup(ctx, items[idx[j]]) }) {
		errs[idx[j]] = err
	}
	for i, err := range errs {
		if err != nil {
			return i, err
		}
	}
	return len(items), nil
}

// eachWide calls fn(0) to fn(n-1), at most width at a time, and returns
// their errors by index.
func eachWide(n, width int, fn func(i int) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
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
func (in *Intake) loadAll(ctx context.Context, envs []imap.Envelope) (map[uint32]*item, error) {
	loaded := map[uint32]*item{}
	var whole []uint32
	for _, env := range envs {
		it := &item{env: env, key: state.NormalizeMessageID(env.MessageID)}
		if imap.Handled(env.Flags) {
			// Filed in place by us already; only a state file restored from
			// a backup (its cursor older than the mailbox) meets it here.
			it.outcome = seen
			loaded[env.UID] = it
			continue
		}
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
	opts := mime.ParseOptions{MaxMessageBytes: in.cfg.MaxMessageBytes, SpoolDir: in.cfg.SpoolDir,
		KeepRaw: in.cfg.Authentication.Checker != nil}
	parsed := map[uint32]error{}
	missing, err := in.cfg.Inbox.FetchMany(ctx, whole, func(uid uint32, r io.Reader) error {
		it := loaded[uid]
		it.msg, parsed[uid] = mime.Parse(r, opts)
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
				it.msg, perr = mime.Parse(r, opts)
				return nil
			})
			if errors.Is(err, imap.ErrGone) {
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
func (in *Intake) dropFrom(loaded map[uint32]*item, envs []imap.Envelope, uid uint32) map[uint32]*item {
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
	case errors.Is(parseErr, mime.ErrMessageTooLarge):
		tooLarge = true
	case errors.Is(parseErr, mime.ErrMalformed):
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

func toEmail(m *mime.Message, tooLarge bool, size int64) mapping.Email {
	e := mapping.Email{
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References,
		FromName: m.From.Name, FromEmail: strings.ToLower(m.From.Email),
		DeliveredTo: m.DeliveredTo, ReturnPath: m.ReturnPath, EmptyReturnPath: m.EmptyReturnPath,
		Subject: m.Subject, Date: m.Date,
		AutoSubmitted: m.Header.AutoSubmitted, Precedence: m.Header.Precedence,
		XAutoreply: m.Header.XAutoreply, XAutorespond: m.Header.XAutorespond, ListID: m.Header.ListID,
		XTicketsync: m.Header.XTicketsync != nil, ContentType: m.ContentType,
		XPriority: m.Header.XPriority, Importance: m.Header.Importance,
		Text: m.Text, Stripped: mime.StripQuoted(m.Text), Problems: m.Problems,
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
		e.Refused = append(e.Refused, mapping.File{Name: r.Filename, Size: r.Size, Reason: r.Reason})
	}
	return e
}

// attachmentFiles streams the spooled attachments to TaskIP.
func attachmentFiles(m *mime.Message) []taskip.File {
	files := make([]taskip.File, 0, len(m.Attachments))
	for i := range m.Attachments {
		a := &m.Attachments[i]
		name := a.Filename
		if name == "" {
			name = fmt.Sprintf("attachment-%d", i+1)
		}
		// Size is what the spool wrote, so it is the exact length Open
		// yields and the upload can announce it.
		files = append(files, taskip.File{Name: name, ContentType: a.ContentType, Size: a.Size, Open: a.Open})
	}
	return files
}

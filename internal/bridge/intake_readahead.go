package bridge

import (
	"context"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/state"
)

// batch is a run of messages in UID order, read and looked up, ready to be
// written. items may stop short of the listing: where BatchBytes is
// reached, at a message that answers an earlier one of the same batch (its
// ticket does not exist yet), or at one that could not be read now (err
// says why).
type batch struct {
	validity uint32
	listed   int
	items    []*item
	err      error
	// intentsWritten says the batch's intents are committed.
	intentsWritten bool
}

// written is a batch whose TaskIP writes are made. Its outcomes stay in
// memory until recorded, in one commit that also moves the cursor past the
// mail marked before it (markedUID); then its own mail is marked.
type written struct {
	b         *batch
	markedUID uint32
	recorded  bool
}

// more reports whether messages may follow the batch's last item.
func (b *batch) more(limit int) bool { return b.listed >= limit || len(b.items) < b.listed }

func (b *batch) cleanup() {
	if b == nil {
		return
	}
	for _, it := range b.items {
		_ = it.msg.Cleanup()
	}
}

func (b *batch) lastUID() uint32 { return b.items[len(b.items)-1].env.UID }

// read prepares a batch of the listed messages, as many as BatchBytes
// allows. prev is the batch being written meanwhile, if any.
func (in *Intake) read(ctx context.Context, status imap.MailboxStatus, envs []imap.Envelope, prev *batch) *batch {
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.ItemTimeout)
	defer cancel()
	listed := len(envs)
	envs = fitBatch(envs, in.cfg.BatchBytes, in.cfg.MaxMessageBytes)
	items, err := in.prepare(ctx, work, status.UIDValidity, envs, prev, behind(status, envs))
	return &batch{validity: status.UIDValidity, listed: listed, items: items, err: err}
}

// behind is how many messages at most wait after envs: the UIDs between
// the last one and UIDNEXT. Expunged UIDs make it an overestimate; 0 when
// the server did not say.
func behind(status imap.MailboxStatus, envs []imap.Envelope) int {
	if len(envs) == 0 || status.UIDNext <= envs[len(envs)-1].UID+1 {
		return 0
	}
	return int(status.UIDNext - envs[len(envs)-1].UID - 1)
}

// fitBatch keeps the leading messages whose sizes add up to maxBytes, and
// at least one. A size counts up to maxMessage: past it only the header
// is read.
func fitBatch(envs []imap.Envelope, maxBytes, maxMessage int64) []imap.Envelope {
	var total int64
	for i, e := range envs {
		total += min(e.Size, maxMessage)
		if total > maxBytes && i > 0 {
			return envs[:i]
		}
	}
	return envs
}

// readAhead is a goroutine working beside the batch being written: it
// records and marks the batch before, then reads the batch after. The
// Inbox serves one goroutine at a time, so the owner uses it again only
// once the read-ahead is over (take).
type readAhead struct {
	done   chan struct{}
	b      *batch // nil when nothing followed or it could not be listed
	marked mark   // of the batch before
	err    error  // recording the batch before failed
}

// mark is the result of marking a recorded batch in the mailbox: the cursor
// may move to UID (0: nowhere new), err says why it stopped short.
type mark struct {
	uid uint32
	err error
}

func (in *Intake) startReadAhead(ctx context.Context, position state.Cursor, cur *batch, prev *written) *readAhead {
	touched := ticketsOf(cur.items)
	ra := &readAhead{done: make(chan struct{})}
	go func() {
		defer close(ra.done)
		if prev != nil {
			if ra.err = in.record(prev, nil); ra.err != nil {
				return
			}
			if ra.marked = in.markBatch(ctx, prev.b); ra.marked.err != nil {
				return
			}
		}
		envs, status, _, err := in.list(ctx, position, cur.lastUID())
		if err != nil || status.UIDValidity != cur.validity || len(envs) == 0 {
			return // the owner lists again from the cursor and sees for itself
		}
		b := in.read(ctx, status, envs, cur)
		ra.b = b
		if len(b.items) > 0 && len(lookupsAffected(b, touched)) == 0 {
			// Nothing cur writes can change these decisions: their
			// intents need not wait for it.
			b.intentsWritten = in.writeIntents(b.validity, b.items) == nil
		}
	}()
	return ra
}

// take waits for the read-ahead and returns its batch, or nil.
func (ra *readAhead) take() (*batch, mark, error) {
	if ra == nil {
		return nil, mark{}, nil
	}
	<-ra.done
	return ra.b, ra.marked, ra.err
}

package mime

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/emersion/go-message/textproto"
)

// Bounds that are not worth an option. Each keeps one hostile message from
// costing more than a fixed amount, whatever MaxMessageBytes is.
const (
	defaultMaxMessageBytes = 25 << 20
	// maxHeaderBytes bounds the top-level header block. Long threads grow
	// References and ARC/DKIM chains grow Received, but nowhere near this.
	maxHeaderBytes = 256 << 10
	// maxPartHeaderBytes bounds each part header, and the preamble searched
	// for the first boundary; go-message has no limit of its own there.
	maxPartHeaderBytes = 64 << 10
	maxDepth           = 20      // multipart nesting
	maxParts           = 500     // MIME parts per message
	maxAttachments     = 100     // spooled files per message
	maxTextBytes       = 2 << 20 // body text kept in memory, text/plain and HTML parts together
	maxProblems        = 50
	maxFilenameBytes   = 255
	maxIDs             = 100 // ids kept from References
	maxAuthResults     = 20  // Authentication-Results fields kept; the trusted ones are on top
	maxAuthResultBytes = 4096
	copyBufferBytes    = 32 << 10
	// multipartPeek is go-message's multipart read-ahead: the budget must
	// leave room for it or a small header could trip the limit.
	multipartPeek = 4096
)

// ParseOptions bounds what Parse accepts. Zero values take the defaults.
type ParseOptions struct {
	// MaxMessageBytes limits the raw message; default 25 MiB
	// (mail.max_message_bytes). Encoding counts: base64 grows content by a
	// third, so the largest attachment that fits is about 18 MiB.
	MaxMessageBytes int64
	// MaxAttachmentBytes limits each decoded attachment; default
	// MaxMessageBytes. Larger ones are listed in Message.Refused.
	MaxAttachmentBytes int64
	// SpoolDir receives the attachment files; default os.TempDir().
	SpoolDir string
	// KeepRaw spools a copy of the message as received, for checks that
	// need its exact bytes (DKIM); Message.OpenRaw reads it back. Nothing
	// is kept of a message over MaxMessageBytes.
	KeepRaw bool
}

func (o ParseOptions) withDefaults() ParseOptions {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = defaultMaxMessageBytes
	}
	if o.MaxAttachmentBytes <= 0 {
		o.MaxAttachmentBytes = o.MaxMessageBytes
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	return o
}

// copyBuffers hold the buffer a parse streams skipped and spooled parts
// through; a backlog parses thousands of messages in a row.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferBytes); return &b }}

// Parse reads one RFC 5322 message from r, streaming attachments into
// opts.SpoolDir. The caller must call Cleanup on the returned Message.
//
// Errors:
//   - ErrMalformed (wrapped): r holds no header block; nothing to salvage.
//   - ErrMessageTooLarge (wrapped): r is longer than MaxMessageBytes. The
//     returned Message is non-nil and holds the header fields and any text
//     read before the limit; its attachments are already removed, and the
//     one cut by the limit is listed in Refused.
//   - a read error of r itself, wrapped: the message was not fully received
//     (a dropped IMAP connection), so retry it rather than act on half.
//   - a failure of SpoolDir (full disk, missing directory), wrapped.
//
// Anything else wrong with the message (charsets, boundaries, encodings,
// addresses, dates) is recorded in Message.Problems and Parse succeeds.
func Parse(r io.Reader, opts ParseOptions) (*Message, error) {
	opts = opts.withDefaults()
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	var raw *os.File
	if opts.KeepRaw {
		f, err := os.CreateTemp(opts.SpoolDir, "ticketsync-raw-*")
		if err != nil {
			return nil, fmt.Errorf("mail: spool raw message: %w", err)
		}
		raw = f
		r = io.TeeReader(r, spoolWriter{f})
	}
	p := &parser{
		opts: opts,
		lim:  &limitReader{r: r, max: opts.MaxMessageBytes},
		msg:  &Message{},
		buf:  *buf,
	}
	err := p.run()
	p.msg.Size = p.lim.n
	if raw != nil {
		closeErr := raw.Close()
		p.msg.raw = raw.Name()
		if closeErr != nil || p.lim.exceeded {
			_ = os.Remove(raw.Name())
			p.msg.raw = ""
		}
		if closeErr != nil && err == nil && p.lim.err == nil {
			err = fmt.Errorf("mail: spool raw message: %w", closeErr)
		}
	}
	switch {
	case p.lim.err != nil:
		p.msg.Cleanup()
		return nil, fmt.Errorf("mail: read message: %w", p.lim.err)
	case p.lim.exceeded:
		p.msg.Cleanup()
		p.msg.Attachments = nil
		return p.msg, fmt.Errorf("%w: more than %d bytes", ErrMessageTooLarge, opts.MaxMessageBytes)
	case err != nil:
		p.msg.Cleanup()
		return nil, err
	}
	return p.msg, nil
}

type parser struct {
	opts ParseOptions
	lim  *limitReader
	msg  *Message
	buf  []byte        // the one copy buffer every attachment streams through
	peek *bufio.Reader // look-ahead into a base64 part, made on first use

	plain, html []string
	textBytes   int64 // Text and HTML bytes kept so far, against maxTextBytes
	parts       int
	cutShort    bool // a part ended without its closing boundary
}

func (p *parser) run() error {
	hl := &budgetReader{r: p.lim, budget: maxHeaderBytes + 4096}
	br := bufio.NewReaderSize(hl, 4096)
	skipMboxFromLine(br)
	h, err := textproto.ReadHeader(br)
	hl.disarm()
	if p.stopped() {
		return nil
	}
	switch {
	case hl.hit:
		return fmt.Errorf("%w: header section larger than %d bytes", ErrMalformed, maxHeaderBytes)
	case h.Len() == 0 && err != nil:
		return fmt.Errorf("%w: no header: %v", ErrMalformed, err)
	case h.Len() == 0:
		return fmt.Errorf("%w: empty input", ErrMalformed)
	case err != nil:
		p.problem("header: %v; the rest was read as the body", err)
	}
	p.readHeader(h)
	ct := p.contentType(h)
	p.msg.ContentType = ct.mediaType
	if ct.mediaType == "multipart/report" {
		p.msg.ReportType = strings.ToLower(ct.params["report-type"])
	}
	if err := p.entity(h, ct, br, 0, nil); err != nil {
		return err
	}
	p.drain(br)
	p.assembleText()
	return nil
}

// skipMboxFromLine drops an mbox "From " envelope line, which files saved
// from mail clients often start with and which is not a header.
func skipMboxFromLine(br *bufio.Reader) {
	if b, err := br.Peek(5); err == nil && string(b) == "From " {
		br.ReadSlice('\n')
	}
}

// stopped reports that reading cannot go on: the input ended badly or is
// over the limit. Parse turns that into its error.
func (p *parser) stopped() bool { return p.lim.exceeded || p.lim.err != nil }

func (p *parser) problem(format string, args ...any) {
	switch n := len(p.msg.Problems); {
	case n < maxProblems:
		p.msg.Problems = append(p.msg.Problems, fmt.Sprintf(format, args...))
	case n == maxProblems:
		p.msg.Problems = append(p.msg.Problems, "more problems not listed")
	}
}

// drain consumes the rest of r so the enclosing multipart can move on.
func (p *parser) drain(r io.Reader) {
	if _, err := io.CopyBuffer(io.Discard, r, p.buf); err != nil {
		p.noteReadError(err)
	}
}

func (p *parser) noteReadError(err error) {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		p.cutShort = true
	}
}

// assembleText picks the body: text/plain parts win unless blank, because
// they are what the sender wrote; HTML is the fallback.
func (p *parser) assembleText() {
	var parts []string
	for _, s := range p.plain {
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	p.msg.HTML = strings.Join(p.html, "\n")
	if len(parts) > 0 {
		p.msg.Text = strings.Join(parts, "\n\n")
		return
	}
	if strings.TrimSpace(p.msg.HTML) != "" {
		p.msg.Text = HTMLToText(p.msg.HTML)
		p.msg.TextFromHTML = true
	}
}

// describeReadError words a part's read failure for Problems and Refused.
func describeReadError(err error) string {
	switch {
	case errors.Is(err, ErrMessageTooLarge):
		return "the message size limit was reached"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the message ends inside this part (closing boundary missing)"
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		return fmt.Sprintf("bad base64 at byte %d", int64(ce))
	}
	return err.Error()
}

// Package mime is the message side of ticketsync's mail: it parses a
// customer's message into a Message the bridge can act on (Parse), drops
// the quoted history of a reply (StripQuoted), turns HTML into text
// (HTMLToText) and composes the messages ticketsync sends (Outgoing). It
// does no network I/O, so a caller that only needs to read or write a
// message, or to render HTML as text, takes no IMAP or SMTP client with it;
// internal/mail/smtp sends an Outgoing and internal/mail/imap fetches the
// bytes that Parse reads.
//
// Parsing never trusts its input. Every size is bounded (the whole
// message, each attachment, each header block, the text kept in memory,
// the multipart depth), attachments are streamed to temporary files rather
// than held in memory, and damage that still leaves something readable (an
// unknown charset, a broken boundary, bad base64) is reported in
// Message.Problems instead of failing the message, so a customer's words
// are not lost to a sloppy mailer.
package mime

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	// Without this only UTF-8 and US-ASCII decode; with it every
	// charset x/text knows does, in bodies and in RFC 2047 header words.
	_ "github.com/emersion/go-message/charset"
)

// Sentinel errors of Parse; match them with errors.Is.
var (
	// ErrMessageTooLarge: the input is longer than ParseOptions.MaxMessageBytes.
	// Parse still returns the Message with what it read before the limit.
	ErrMessageTooLarge = errors.New("mail: message too large")
	// ErrMalformed: the input is not a message at all (no header block, or a
	// header section beyond any sane size). Retrying cannot help.
	ErrMalformed = errors.New("mail: malformed message")
)

// Address is one mailbox. Email is lowercased so it can be compared and
// used as a map key directly.
type Address struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Header holds the top-level header fields the loop and noise guard and the
// priority mapping look at. Values are trimmed but
// otherwise raw: the guard decides what "auto-replied" or "bulk" means.
type Header struct {
	AutoSubmitted         string `json:"auto_submitted,omitempty"`
	Precedence            string `json:"precedence,omitempty"`
	XAutoreply            string `json:"x_autoreply,omitempty"`
	XAutorespond          string `json:"x_autorespond,omitempty"`
	ListID                string `json:"list_id,omitempty"`
	ListUnsubscribe       string `json:"list_unsubscribe,omitempty"`
	XPriority             string `json:"x_priority,omitempty"`
	Importance            string `json:"importance,omitempty"`
	XAutoResponseSuppress string `json:"x_auto_response_suppress,omitempty"`
	// XTicketsync has every header whose name starts with "X-Ticketsync"
	// (canonical name -> first value); non-nil means the message carries our
	// own tag and is an echo of something we sent.
	XTicketsync map[string]string `json:"x_ticketsync,omitempty"`
	// AuthResults are the Authentication-Results fields (RFC 8601), topmost
	// first, each with its position among all header fields: whose word
	// they are depends on where they sit (internal/senderauth).
	AuthResults []AuthResult `json:"auth_results,omitempty"`
}

// AuthResult is one Authentication-Results header field.
type AuthResult struct {
	Value string `json:"value"`
	Pos   int    `json:"pos"` // 0 is the topmost header field
}

// Message is a parsed inbound email. Attachments live in temporary files
// until Cleanup is called; the caller owns that call.
type Message struct {
	MessageID  string   // without angle brackets; empty when absent
	InReplyTo  []string // message ids without angle brackets
	References []string // message ids without angle brackets, oldest first
	From       Address  // first From mailbox; zero when absent or unreadable
	To         []Address
	Cc         []Address
	ReplyTo    []Address
	// DeliveredTo collects the envelope recipients the receiving MTAs wrote
	// down (Delivered-To, X-Original-To, Envelope-To), lowercased, without
	// angle brackets. A Bcc'd support+<uuid>@ address only shows up here.
	DeliveredTo []string
	// ReturnPath is the first Return-Path header as written, e.g. "<>" for
	// a bounce; EmptyReturnPath reports exactly that null sender.
	ReturnPath      string
	EmptyReturnPath bool
	Subject         string    // RFC 2047 decoded, on one line
	Date            time.Time // zero when absent or unparseable
	Header          Header

	ContentType string // top-level media type, lowercased, e.g. "multipart/report"
	ReportType  string // report-type parameter of a multipart/report

	// Text is the best plain-text body: the text/plain parts, or when there
	// are none (or they are blank) the HTML converted to text, in which case
	// TextFromHTML is set. Line ends are "\n"; format=flowed is undone.
	Text         string
	TextFromHTML bool
	// HTML is the raw HTML body decoded to UTF-8, empty when there was none.
	// Text and HTML together are capped at 2 MiB (a Problems entry says
	// when something was cut).
	HTML string

	Attachments []Attachment
	Refused     []RefusedAttachment
	// Problems lists what was wrong with the message but did not stop it
	// being read; worth logging and putting into an internal note.
	Problems []string
	// Size is the number of raw bytes read from the input.
	Size int64

	// raw is the spooled copy of the whole message (ParseOptions.KeepRaw),
	// "" when none was kept.
	raw string
}

// OpenRaw opens the message as received, when ParseOptions.KeepRaw kept
// it; ok is false otherwise (not asked for, or over the size limit).
func (m *Message) OpenRaw() (rc io.ReadCloser, ok bool, err error) {
	if m == nil || m.raw == "" {
		return nil, false, nil
	}
	f, err := os.Open(m.raw)
	if err != nil {
		return nil, false, fmt.Errorf("mail: open raw message: %w", err)
	}
	return f, true, nil
}

// Cleanup removes every spooled attachment file. It is safe to call more
// than once; it returns the removal failures joined, if any.
func (m *Message) Cleanup() error {
	if m == nil {
		return nil
	}
	var errs []error
	for i := range m.Attachments {
		errs = append(errs, m.Attachments[i].Remove())
	}
	if m.raw != "" {
		if err := os.Remove(m.raw); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("mail: remove raw message: %w", err))
		}
		m.raw = ""
	}
	return errors.Join(errs...)
}

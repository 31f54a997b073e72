package mime

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	stdmime "mime"
	netmail "net/mail"
	"path"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
)

// Header names ticketsync writes on outbound mail.
const (
	// HeaderTicket tags every message we send with its ticket, so an echo
	// of our own mail is recognised on the way back in (Header.XTicketsync).
	HeaderTicket = "X-Ticketsync-Ticket"
	// noTicket fills HeaderTicket when a message belongs to no ticket: the
	// tag must be there whatever happens.
	noTicket = "none"
	// maxReferences bounds the References header: the first id (the thread
	// root) and the newest ones are what clients thread on.
	maxReferences = 20
)

// Outgoing is one message ticketsync sends: an agent's reply or an
// acknowledgement. The bridge fills it from the ticket and stores
// MessageID before sending, so threading survives a restart.
type Outgoing struct {
	From, To Address
	// ReplyTo is a bare address, normally Threading.ReplyAddress(uuid):
	// address+<uuid>@domain. Empty omits the header.
	ReplyTo string
	// Subject is sent as given: the caller has already added the tag
	// (Threading.Tag). Non-ASCII is RFC 2047 encoded.
	Subject string
	// MessageID is required, without angle brackets (see NewMessageID).
	MessageID string
	// InReplyTo and References thread the message under the customer's
	// last one; ids without angle brackets. Ids that cannot be written
	// (spaces, brackets, control characters) are left out.
	InReplyTo  string
	References []string
	// Text is the plain body. HTML is optional: when empty a simple HTML
	// version is derived from Text (escaped, paragraphs, line breaks,
	// links).
	Text string
	HTML string
	// Attachments are streamed from Open while the message is written,
	// base64 encoded; the message becomes multipart/mixed.
	Attachments []OutgoingFile
	// TicketUUID goes into X-Ticketsync-Ticket ("none" when empty).
	TicketUUID string
	// AutoReply marks an acknowledgement: Auto-Submitted: auto-replied
	// (RFC 3834), so well-behaved responders do not answer it.
	AutoReply bool
	// Date defaults to the time WriteTo runs.
	Date time.Time
}

// OutgoingFile is one attachment of an Outgoing message.
type OutgoingFile struct {
	Name string
	// ContentType defaults to the type of Name's extension, else
	// application/octet-stream.
	ContentType string
	// Open is called once per WriteTo; the reader is closed after copying.
	Open func() (io.ReadCloser, error)
}

// ErrInvalidOutgoing: the Outgoing lacks something a message needs (a
// From, To or Message-ID) or carries an unwritable address. Sending it
// again cannot help.
var ErrInvalidOutgoing = errors.New("mail: invalid outgoing message")

// NewMessageID returns a fresh random Message-ID without angle brackets:
// ticketsync.<26 base32 characters>@domain. The fixed prefix and our
// domain let the loop guard recognise our own mail.
func NewMessageID(domain string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	id := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	return "ticketsync." + strings.ToLower(id) + "@" + strings.ToLower(strings.TrimSpace(domain))
}

// WriteTo writes o as an RFC 5322 message with CRLF line ends:
// multipart/alternative (text/plain quoted-printable and text/html),
// wrapped in multipart/mixed when there are attachments. An error from an
// attachment's Open or read leaves a partial message in w; the caller must
// not deliver it (smtp.Sender aborts the transaction).
func (o Outgoing) WriteTo(w io.Writer) (int64, error) {
	h, err := o.header()
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: w}
	err = o.writeBody(cw, h)
	return cw.n, err
}

// Validate reports what WriteTo would refuse before writing anything: a
// missing From, To or Message-ID, or an address that cannot be written
// (ErrInvalidOutgoing). A sender checks it before it opens a transaction.
func (o Outgoing) Validate() error {
	_, err := o.header()
	return err
}

func (o Outgoing) header() (gomail.Header, error) {
	if o.MessageID == "" || !validMsgID(o.MessageID) {
		return gomail.Header{}, fmt.Errorf("%w: Message-ID %q", ErrInvalidOutgoing, o.MessageID)
	}
	from, err := mailbox("From", o.From)
	if err != nil {
		return gomail.Header{}, err
	}
	to, err := mailbox("To", o.To)
	if err != nil {
		return gomail.Header{}, err
	}
	var replyTo *gomail.Address
	if o.ReplyTo != "" {
		if replyTo, err = mailbox("Reply-To", Address{Email: o.ReplyTo}); err != nil {
			return gomail.Header{}, err
		}
	}
	date := o.Date
	if date.IsZero() {
		date = time.Now()
	}
	ticket := o.TicketUUID
	if ticket == "" || !validMsgID(ticket) {
		ticket = noTicket
	}

	// go-message writes header fields last-added first, so each setter
	// below runs in the reverse of the order they appear in the message.
	// (Content-Type always comes first: CreateWriter adds it last.)
	var h gomail.Header
	h.Set("MIME-Version", "1.0")
	if o.AutoReply {
		h.Set("Auto-Submitted", "auto-replied")
	}
	h.Set("X-Auto-Response-Suppress", "All")
	h.Set(HeaderTicket, ticket)
	if refs := cleanIDs(o.References); len(refs) > 0 {
		if len(refs) > maxReferences {
			refs = append(refs[:1], refs[len(refs)-maxReferences+1:]...)
		}
		h.SetMsgIDList("References", refs) // folded at spaces by go-message
	}
	if irt := cleanIDs([]string{o.InReplyTo}); len(irt) > 0 {
		h.SetMsgIDList("In-Reply-To", irt)
	}
	h.SetMessageID(o.MessageID)
	h.SetDate(date)
	h.Set("Subject", encodeWords(OneLine(o.Subject)))
	if replyTo != nil {
		setAddress(&h, "Reply-To", replyTo)
	}
	setAddress(&h, "To", to)
	setAddress(&h, "From", from)
	return h, nil
}

func (o Outgoing) writeBody(w io.Writer, h gomail.Header) error {
	html := o.HTML
	if html == "" {
		html = textToHTML(o.Text)
	}
	if len(o.Attachments) == 0 {
		iw, err := gomail.CreateInlineWriter(w, h)
		if err != nil {
			return fmt.Errorf("mail: compose %s: %w", o.MessageID, err)
		}
		if err := writeAlternatives(iw, o.Text, html); err != nil {
			return fmt.Errorf("mail: compose %s: %w", o.MessageID, err)
		}
		return iw.Close()
	}

	mw, err := gomail.CreateWriter(w, h)
	if err != nil {
		return fmt.Errorf("mail: compose %s: %w", o.MessageID, err)
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return fmt.Errorf("mail: compose %s: %w", o.MessageID, err)
	}
	if err := writeAlternatives(iw, o.Text, html); err != nil {
		return fmt.Errorf("mail: compose %s: %w", o.MessageID, err)
	}
	if err := iw.Close(); err != nil {
		return fmt.Errorf("mail: compose %s: %w", o.MessageID, err)
	}
	for i, f := range o.Attachments {
		if err := writeAttachment(mw, f, i); err != nil {
			return fmt.Errorf("mail: compose %s: %w", o.MessageID, err)
		}
	}
	return mw.Close()
}

func writeAlternatives(iw *gomail.InlineWriter, text, html string) error {
	for _, part := range []struct{ mediaType, body string }{
		{"text/plain", text},
		{"text/html", html},
	} {
		var ph gomail.InlineHeader
		ph.SetContentType(part.mediaType, map[string]string{"charset": "utf-8"})
		pw, err := iw.CreatePart(ph) // quoted-printable, set by go-message
		if err != nil {
			return err
		}
		if _, err := io.WriteString(pw, part.body); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	return nil
}

func writeAttachment(mw *gomail.Writer, f OutgoingFile, index int) error {
	name := path.Base(strings.ReplaceAll(OneLine(f.Name), "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = fmt.Sprintf("attachment-%d", index+1)
	}
	ct := f.ContentType
	if ct == "" {
		ct = stdmime.TypeByExtension(path.Ext(name))
	}
	mediaType, params, err := stdmime.ParseMediaType(ct)
	if err != nil {
		mediaType, params = "application/octet-stream", nil
	}
	if params == nil {
		params = map[string]string{}
	}
	params["name"] = name // older clients look here rather than at filename

	var ah gomail.AttachmentHeader
	ah.SetContentType(mediaType, params)
	ah.SetFilename(name) // RFC 2231 encoded when not ASCII
	if f.Open == nil {
		return fmt.Errorf("attachment %q: no content", name)
	}
	r, err := f.Open()
	if err != nil {
		return fmt.Errorf("attachment %q: %w", name, err)
	}
	defer r.Close()
	aw, err := mw.CreateAttachment(ah) // base64, set by go-message
	if err != nil {
		return err
	}
	if _, err := io.Copy(aw, r); err != nil {
		return fmt.Errorf("attachment %q: %w", name, err)
	}
	return aw.Close()
}

// setAddress writes one mailbox. go-message (through net/mail) encodes a
// non-ASCII name as one encoded-word of up to 75 characters, which cannot
// be folded under 78; encodeWords makes short ones.
func setAddress(h *gomail.Header, field string, a *gomail.Address) {
	if a.Name == "" || !needsEncoding(a.Name) {
		h.SetAddressList(field, []*gomail.Address{a})
		return
	}
	h.Set(field, encodeWords(a.Name)+" <"+a.Address+">")
}

// mailbox validates one address for a header and the SMTP envelope.
func mailbox(field string, a Address) (*gomail.Address, error) {
	email := strings.TrimSpace(a.Email)
	if email == "" {
		return nil, fmt.Errorf("%w: no %s address", ErrInvalidOutgoing, field)
	}
	if strings.ContainsAny(email, " \t\r\n<>,;\"") {
		return nil, fmt.Errorf("%w: %s address %q", ErrInvalidOutgoing, field, email)
	}
	if _, err := netmail.ParseAddress("<" + email + ">"); err != nil {
		return nil, fmt.Errorf("%w: %s address %q: %v", ErrInvalidOutgoing, field, email, err)
	}
	return &gomail.Address{Name: OneLine(a.Name), Address: email}, nil
}

// cleanIDs drops empty ids and ids that would break the header.
func cleanIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		id = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">"))
		if id != "" && validMsgID(id) {
			out = append(out, id)
		}
	}
	return out
}

func validMsgID(id string) bool {
	for _, r := range id {
		if r <= ' ' || r >= 0x7f || r == '<' || r == '>' {
			return false
		}
	}
	return id != ""
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

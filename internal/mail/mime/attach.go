package mime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Attachment is a file carried by a message, spooled to a temporary file
// while the message was parsed.
type Attachment struct {
	Filename    string // sanitized base name, never empty
	ContentType string // lowercased media type without parameters
	Size        int64  // decoded bytes
	// Inline parts are shown inside the HTML body (Content-Disposition
	// inline, or a Content-ID referenced from multipart/related).
	Inline    bool
	ContentID string // without angle brackets
	SHA256    string // hex digest of the decoded content

	path string
}

// RefusedAttachment is an attachment that was not kept, so the bridge can
// say which file the customer sent and why it is missing.
type RefusedAttachment struct {
	Filename    string
	ContentType string
	// Size is the decoded size seen: the whole part when it could be read
	// to its end (it must be consumed to reach the next part anyway), else
	// the bytes read before the damage.
	Size   int64
	Reason string
}

// Open returns the spooled content. The caller closes it.
func (a Attachment) Open() (io.ReadCloser, error) {
	if a.path == "" {
		return nil, fmt.Errorf("mail: open attachment %q: already removed", a.Filename)
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, fmt.Errorf("mail: open attachment %q: %w", a.Filename, err)
	}
	return f, nil
}

// Remove deletes the spooled file. Removing twice is not an error.
func (a *Attachment) Remove() error {
	p := a.path
	a.path = ""
	if p == "" {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mail: remove attachment %q: %w", a.Filename, err)
	}
	return nil
}

// spool streams one decoded part to a temporary file through a fixed
// buffer, hashing it on the way. Oversized or damaged parts end up in
// Refused; only a failure of the spool directory itself is fatal.
func (p *parser) spool(meta Attachment, body io.Reader) error {
	if len(p.msg.Attachments) >= maxAttachments {
		n, err := io.CopyBuffer(io.Discard, body, p.buf)
		if err != nil {
			p.noteReadError(err)
		}
		p.refuse(meta, n, fmt.Sprintf("more than %d attachments in one message", maxAttachments))
		return nil
	}
	f, err := os.CreateTemp(p.opts.SpoolDir, "ticketsync-attachment-*")
	if err != nil {
		return fmt.Errorf("mail: spool attachment %q: %w", meta.Filename, err)
	}
	h := sha256.New()
	limit := p.opts.MaxAttachmentBytes
	n, copyErr := io.CopyBuffer(io.MultiWriter(spoolWriter{f}, h), io.LimitReader(body, limit+1), p.buf)
	closeErr := f.Close()
	var werr *writeError
	if errors.As(copyErr, &werr) || closeErr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("mail: spool attachment %q: %w", meta.Filename, errors.Join(copyErr, closeErr))
	}
	keep := false
	switch {
	case copyErr != nil:
		p.noteReadError(copyErr)
		p.refuse(meta, n, "incomplete: "+describeReadError(copyErr))
	case n > limit:
		rest, err := io.CopyBuffer(io.Discard, body, p.buf)
		if err != nil {
			p.noteReadError(err)
		}
		p.refuse(meta, n+rest, fmt.Sprintf("larger than the %d byte attachment limit", limit))
	default:
		keep = true
	}
	if !keep {
		os.Remove(f.Name())
		return nil
	}
	meta.Size = n
	meta.SHA256 = hex.EncodeToString(h.Sum(nil))
	meta.path = f.Name()
	p.msg.Attachments = append(p.msg.Attachments, meta)
	return nil
}

func (p *parser) refuse(meta Attachment, size int64, reason string) {
	p.msg.Refused = append(p.msg.Refused, RefusedAttachment{
		Filename:    meta.Filename,
		ContentType: meta.ContentType,
		Size:        size,
		Reason:      reason,
	})
}

// writeError marks a failure of the spool file, as opposed to the message
// stream, so spool can tell a full disk (fatal) from a broken part (refused).
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

type spoolWriter struct{ w io.Writer }

func (s spoolWriter) Write(b []byte) (int, error) {
	n, err := s.w.Write(b)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// attachmentName picks a safe display name: the sender's name reduced to a
// base name without control characters, else one made up from the type.
func attachmentName(name, mediaType string, index int) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\':
			return '/'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(path.Base("/" + name))
	name = strings.Trim(name, ". ")
	if name == "" || name == "/" {
		switch mediaType {
		case "message/rfc822":
			return "forwarded-message.eml"
		case "message/delivery-status", "message/global-delivery-status":
			return "delivery-status.txt"
		case "text/rfc822-headers", "message/global-headers":
			return "original-headers.txt"
		}
		return fmt.Sprintf("attachment-%d%s", index, extensionFor(mediaType))
	}
	for len(name) > maxFilenameBytes {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// extensionFor is a fixed table rather than the standard library's
// ExtensionsByType, whose answer depends on the host's mime.types and
// would make names differ between machines.
func extensionFor(mediaType string) string {
	switch mediaType {
	case "application/pdf":
		return ".pdf"
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	case "text/csv":
		return ".csv"
	case "text/calendar":
		return ".ics"
	case "application/zip":
		return ".zip"
	}
	return ".bin"
}

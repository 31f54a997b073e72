package taskip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
)

// ErrSizeMismatch marks a File whose content is not the Size it declared.
// The upload is abandoned before its body is complete, so the server never
// receives a truncated or overlong body under the announced Content-Length.
var ErrSizeMismatch = errors.New("taskip: attachment size mismatch")

// File is one attachment to upload. Open is called once per attempt (and
// once more beforehand when Size is zero), so the content is streamed from
// its source and never held in memory; every call must yield the same bytes.
type File struct {
	Name        string
	ContentType string // default application/octet-stream
	// Size is the exact number of bytes Open yields. The request announces
	// its whole length up front, because gateways and PHP front ends refuse
	// chunked bodies, so content of another length fails the upload with
	// ErrSizeMismatch. Zero means unknown: the content is then read once
	// before the upload to measure it (an empty file costs nothing).
	Size int64
	Open func() (io.ReadCloser, error)
}

// LocalFile returns a File that reads path from disk, sized by a stat now.
// A file that cannot be stat'ed is left unsized: Open reports why.
func LocalFile(path string) File {
	f := File{
		Name:        filepath.Base(path),
		ContentType: mime.TypeByExtension(filepath.Ext(path)),
		Open:        func() (io.ReadCloser, error) { return os.Open(path) },
	}
	// Only a regular file's stat size is its content length (/proc files
	// stat as empty, devices as anything), so others are measured instead.
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		f.Size = fi.Size()
	}
	return f
}

// UploadAttachments streams files as multipart/form-data (files[]) to the
// ticket. The body's length is computed before it is sent and the body is
// produced while it is sent, so a file of any size costs a fixed buffer and
// the request never goes out chunked. Not retried once it may have been
// received.
func (c *Client) UploadAttachments(ctx context.Context, id ID, files []File, description string) (UploadResult, error) {
	if len(files) == 0 {
		return UploadResult{}, fmt.Errorf("upload attachments to ticket %d: no files", id)
	}
	form, err := newUploadForm(ctx, files, description)
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload %d attachments to ticket %d: %w", len(files), id, err)
	}
	var env dataEnvelope[UploadResult]
	req := request{method: http.MethodPost, path: pathAttachments(id), newBody: form.open, length: form.length}
	if err := c.do(ctx, req, &env); err != nil {
		return UploadResult{}, fmt.Errorf("upload %d attachments to ticket %d: %w", len(files), id, err)
	}
	return env.Data, nil
}

// uploadForm is a multipart body laid out once: every attempt streams the
// same framing under the same boundary, so the length computed up front
// holds for retries too.
type uploadForm struct {
	files       []File
	sizes       []int64
	description string
	boundary    string
	contentType string
	length      int64
}

func newUploadForm(ctx context.Context, files []File, description string) (*uploadForm, error) {
	form := &uploadForm{files: files, sizes: make([]int64, len(files)), description: description}
	for i, f := range files {
		switch {
		case f.Open == nil:
			return nil, fmt.Errorf("attachment %q: no content", f.Name)
		case f.Size < 0:
			return nil, fmt.Errorf("attachment %q: negative size %d", f.Name, f.Size)
		case f.Size > 0:
			form.sizes[i] = f.Size
		default:
			n, err := measure(ctx, f)
			if err != nil {
				return nil, err
			}
			form.sizes[i] = n
		}
	}
	mw := multipart.NewWriter(io.Discard)
	form.boundary, form.contentType = mw.Boundary(), mw.FormDataContentType()

	// The framing (boundary lines, part headers, the description) is
	// written to a counter by the very code that streams it later, so the
	// two cannot disagree; the contents only add their sizes.
	var cw countingWriter
	err := form.write(&cw, func(i int, _ io.Writer) error {
		cw.n += form.sizes[i]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lay out form: %w", err)
	}
	form.length = cw.n
	return form, nil
}

// open starts streaming one copy of the body. The writer goroutine ends when
// the body is fully written or when the HTTP client closes the reader
// (request done or cancelled), which makes its next write fail.
func (f *uploadForm) open() (io.ReadCloser, string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(f.write(pw, f.copyContent)) }()
	return pr, f.contentType, nil
}

// write lays the form out on w; content fills in file i's part.
func (f *uploadForm) write(w io.Writer, content func(i int, part io.Writer) error) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(f.boundary); err != nil {
		return err
	}
	for i, file := range f.files {
		part, err := mw.CreatePart(partHeader(file))
		if err != nil {
			return err
		}
		if err := content(i, part); err != nil {
			return err
		}
	}
	if f.description != "" {
		if err := mw.WriteField(formDescription, f.description); err != nil {
			return err
		}
	}
	return mw.Close()
}

// copyContent streams file i into its part, exactly its computed size. A
// source that ends early or goes on is an error rather than a body of the
// wrong length: the excess byte is only probed, never sent.
func (f *uploadForm) copyContent(i int, part io.Writer) error {
	file, size := f.files[i], f.sizes[i]
	rc, err := file.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", file.Name, err)
	}
	defer rc.Close()
	n, err := io.Copy(part, io.LimitReader(rc, size))
	if err != nil {
		return fmt.Errorf("stream %s: %w", file.Name, err)
	}
	if n < size {
		return fmt.Errorf("%w: %q ended after %d bytes, %d declared", ErrSizeMismatch, file.Name, n, size)
	}
	var probe [1]byte
	switch m, err := io.ReadFull(rc, probe[:]); {
	case m > 0:
		return fmt.Errorf("%w: %q is longer than the %d bytes declared", ErrSizeMismatch, file.Name, size)
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("stream %s: %w", file.Name, err)
	}
	return nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")

func partHeader(f File) textproto.MIMEHeader {
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, formFiles, quoteEscaper.Replace(f.Name)))
	h.Set("Content-Type", ct)
	return h
}

// measure reads a file of unknown size once to learn it. The size must be
// known before the first byte is sent, and reading is cheaper than spooling
// for the local and in-memory sources that leave it unset.
func measure(ctx context.Context, f File) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", f.Name, err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, ctxReader{ctx: ctx, r: rc})
	if err != nil {
		return 0, fmt.Errorf("measure %s: %w", f.Name, err)
	}
	return n, nil
}

// ctxReader stops a measuring read when the caller gives up, which a plain
// ReadCloser from Open has no way to notice.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

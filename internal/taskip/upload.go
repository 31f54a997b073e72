package taskip

import (
	"context"
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

// File is one attachment to upload. Open is called once per attempt so the
// content is streamed from its source and never held in memory.
type File struct {
	Name        string
	ContentType string // default application/octet-stream
	Open        func() (io.ReadCloser, error)
}

// LocalFile returns a File that reads path from disk.
func LocalFile(path string) File {
	return File{
		Name:        filepath.Base(path),
		ContentType: mime.TypeByExtension(filepath.Ext(path)),
		Open:        func() (io.ReadCloser, error) { return os.Open(path) },
	}
}

// UploadAttachments streams files as multipart/form-data (files[]) to the
// ticket. The request body is produced while it is sent, so a file of any
// size costs a fixed buffer. Not retried once it may have been received.
func (c *Client) UploadAttachments(ctx context.Context, id ID, files []File, description string) (UploadResult, error) {
	if len(files) == 0 {
		return UploadResult{}, fmt.Errorf("upload attachments to ticket %d: no files", id)
	}
	newBody := func() (io.ReadCloser, string, error) {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		// The writer goroutine ends when the body is fully written or when
		// the HTTP client closes the reader (request done or cancelled),
		// which makes its next write fail.
		go func() { pw.CloseWithError(writeMultipart(mw, files, description)) }()
		return pr, mw.FormDataContentType(), nil
	}
	var env dataEnvelope[UploadResult]
	if err := c.do(ctx, request{method: http.MethodPost, path: pathAttachments(id), newBody: newBody}, &env); err != nil {
		return UploadResult{}, fmt.Errorf("upload %d attachments to ticket %d: %w", len(files), id, err)
	}
	return env.Data, nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")

func writeMultipart(mw *multipart.Writer, files []File, description string) error {
	for _, f := range files {
		if err := writeFilePart(mw, f); err != nil {
			return err
		}
	}
	if description != "" {
		if err := mw.WriteField(formDescription, description); err != nil {
			return err
		}
	}
	return mw.Close()
}

func writeFilePart(mw *multipart.Writer, f File) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", f.Name, err)
	}
	defer rc.Close()
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, formFiles, quoteEscaper.Replace(f.Name)))
	h.Set("Content-Type", ct)
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("read %s: %w", f.Name, err)
	}
	return nil
}

package taskipfake

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
)

type uploadedJSON struct {
	ID               int    `json:"id"`
	Filename         string `json:"filename"`
	OriginalFilename string `json:"original_filename"`
	FileSize         int64  `json:"file_size"`
	MimeType         string `json:"mime_type"`
	DownloadURL      string `json:"download_url,omitempty"`
	UploadedBy       string `json:"uploaded_by,omitempty"`
	UploadedAt       string `json:"uploaded_at"`
}

// uploadAttachments streams each part through a digest: file contents are
// never held in memory, so a client can be tested with uploads of any size.
// A request is all or nothing; one file over the limit stores none.
func (s *Server) uploadAttachments(c *call) {
	s.mu.Lock()
	t, err := s.ticketByID(c)
	if err == nil {
		err = checkModifiable(t, nil)
	}
	s.mu.Unlock()
	if err != nil {
		c.fail(err)
		return
	}
	mr, err := c.r.MultipartReader()
	if err != nil {
		c.fail(errBadRequest("Expected a multipart/form-data body"))
		return
	}
	var files []Attachment
	var description string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.fail(errBadRequest("Malformed multipart body"))
			return
		}
		switch part.FormName() {
		case "files[]", "files":
			a, err := s.receiveFile(part)
			if err != nil {
				c.fail(err)
				return
			}
			files = append(files, a)
		case "description":
			b, _ := io.ReadAll(io.LimitReader(part, 64<<10))
			description = string(b)
		}
		_ = part.Close()
	}
	if len(files) == 0 {
		c.fail(errInvalid(validation{"files": {"The files field is required."}}))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// Re-checked: the ticket may have changed while the body streamed in.
	t, err = s.ticketByID(c)
	if err == nil {
		err = checkModifiable(t, nil)
	}
	if err != nil {
		c.fail(err)
		return
	}
	by := s.apiPerson().Name
	out := make([]uploadedJSON, 0, len(files))
	for _, a := range files {
		a.ID = s.next.media
		s.next.media++
		a.TicketID, a.Description, a.UploadedBy, a.UploadedAt = t.ID, description, by, c.now
		s.attachments[t.ID] = append(s.attachments[t.ID], a)
		s.media[a.ID] = Media{ID: a.ID, URL: downloadURL(c, a), Name: a.OriginalFilename, Size: a.Size}
		out = append(out, uploadedJSON{ID: a.ID, Filename: a.Filename, OriginalFilename: a.OriginalFilename,
			FileSize: a.Size, MimeType: a.MimeType, UploadedAt: rfc3339(a.UploadedAt)})
	}
	s.touch(t)
	c.json(http.StatusCreated, map[string]any{"success": true, "message": "Attachments uploaded successfully",
		"data": map[string]any{"ticket_id": t.ID, "uploaded_files": out}})
}

// receiveFile counts and hashes one file part, keeping only its first 512
// bytes for content sniffing.
func (s *Server) receiveFile(part *multipart.Part) (Attachment, error) {
	name := part.FileName()
	if name == "" {
		name = "upload"
	}
	h := sha256.New()
	sniff := &prefixWriter{max: 512}
	limit := s.opts.MaxUploadBytes
	n, err := io.Copy(io.MultiWriter(h, sniff), io.LimitReader(part, limit+1))
	if err != nil {
		return Attachment{}, errBadRequest("Could not read the uploaded file")
	}
	if n > limit {
		return Attachment{}, &apiError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("Attachment file size exceeds limit: %s is larger than %d bytes", name, limit)}
	}
	return Attachment{Filename: name, OriginalFilename: name, Size: n,
		MimeType: mimeType(part.Header.Get("Content-Type"), name, sniff.buf), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// mimeType trusts a specific declared type, then the extension, then the
// content, as upload handlers commonly do.
func mimeType(declared, name string, head []byte) string {
	if mt, _, err := mime.ParseMediaType(declared); err == nil && mt != "application/octet-stream" {
		return mt
	}
	if mt, _, err := mime.ParseMediaType(mime.TypeByExtension(filepath.Ext(name))); err == nil {
		return mt
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	return mt
}

type prefixWriter struct {
	buf []byte
	max int
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func downloadURL(c *call, a Attachment) string {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s%s/ticket/%d/attachments/%d/download", scheme, c.r.Host, BasePath, a.TicketID, a.ID)
}

func (s *Server) listAttachments(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticketByID(c)
	if err != nil {
		c.fail(err)
		return
	}
	list := make([]uploadedJSON, 0, len(s.attachments[t.ID]))
	var total int64
	for _, a := range s.attachments[t.ID] {
		total += a.Size
		list = append(list, uploadedJSON{ID: a.ID, Filename: a.Filename, OriginalFilename: a.OriginalFilename,
			FileSize: a.Size, MimeType: a.MimeType, DownloadURL: downloadURL(c, a),
			UploadedBy: a.UploadedBy, UploadedAt: rfc3339(a.UploadedAt)})
	}
	c.json(http.StatusOK, map[string]any{"success": true, "data": map[string]any{
		"ticket_id": t.ID, "attachments": list, "total_attachments": len(list), "total_size": total}})
}

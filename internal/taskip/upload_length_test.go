package taskip_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// pattern yields n deterministic, non-repeating-looking bytes without
// holding them: the same n always gives the same content, so a digest can be
// computed on either side of the wire.
type pattern struct{ off, n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := range b[:k] {
		x := p.off + int64(i)
		b[i] = byte(x*7 + x>>9)
	}
	p.off += k
	return int(k), nil
}

func patternSHA(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, &pattern{n: n})
	return hex.EncodeToString(h.Sum(nil))
}

func textSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// sized is a File of n pattern bytes that declares size (which a test may
// set wrong) and counts its opens.
func sized(name string, n, size int64, opens *atomic.Int32) taskip.File {
	return taskip.File{Name: name, ContentType: "application/octet-stream", Size: size, Open: func() (io.ReadCloser, error) {
		if opens != nil {
			opens.Add(1)
		}
		return io.NopCloser(&pattern{n: n}), nil
	}}
}

func text(name, content string, size int64) taskip.File {
	return taskip.File{Name: name, ContentType: "text/plain", Size: size, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(content)), nil
	}}
}

// received is what the recording server saw of one request.
type received struct {
	method, path     string
	contentLength    int64  // as parsed by net/http
	lengthHeader     string // the Content-Length header itself
	transferEncoding []string
	bytes            int64 // body bytes actually read
	files            []receivedFile
	description      string
	parseErr         error
}

type receivedFile struct {
	name, contentType, sha string
	size                   int64
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// recorder is a loopback TaskIP stand-in that reads every body to its end,
// parses multipart bodies by hashing parts as they stream in, and answers
// with the queued statuses (201 once they run out).
type recorder struct {
	mu       sync.Mutex
	requests []received
	statuses []int
}

func (rec *recorder) start(t *testing.T) *taskip.Client {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(rec.serve))
	t.Cleanup(ts.Close)
	c, err := taskip.New(taskip.Config{BaseURL: ts.URL, SecretKey: testKey,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	require.NoError(t, err)
	return c
}

func (rec *recorder) serve(w http.ResponseWriter, r *http.Request) {
	got := received{method: r.Method, path: r.URL.Path, contentLength: r.ContentLength,
		lengthHeader: r.Header.Get("Content-Length"), transferEncoding: r.TransferEncoding}
	body := &countReader{r: r.Body}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		got.parseErr = readForm(multipart.NewReader(body, params["boundary"]), &got)
	}
	_, _ = io.Copy(io.Discard, body)
	got.bytes = body.n

	rec.mu.Lock()
	rec.requests = append(rec.requests, got)
	status := http.StatusCreated
	if len(rec.statuses) > 0 {
		status, rec.statuses = rec.statuses[0], rec.statuses[1:]
	}
	rec.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"success":false,"error":"Too Many Requests","message":"Rate limit exceeded","status_code":429}`)
		return
	}
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"success":true,"data":{"ticket_id":7,"uploaded_files":[%s]}}`,
		strings.Repeat(`{"id":1},`, max(len(got.files)-1, 0))+`{"id":1}`)
}

func readForm(mr *multipart.Reader, got *received) error {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		// The raw parameter, not Part.FileName, which reduces it to a base
		// name: the quoting is what is under test.
		_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil {
			return err
		}
		if part.FormName() == "description" {
			b, err := io.ReadAll(io.LimitReader(part, 1<<10))
			if err != nil {
				return err
			}
			got.description = string(b)
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, part)
		if err != nil {
			return err
		}
		got.files = append(got.files, receivedFile{name: params["filename"], contentType: part.Header.Get("Content-Type"),
			sha: hex.EncodeToString(h.Sum(nil)), size: n})
	}
}

func (rec *recorder) all() []received {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]received(nil), rec.requests...)
}

// assertSized checks the framing every request with a body must have.
func assertSized(t *testing.T, r received) {
	t.Helper()
	assert.Empty(t, r.transferEncoding, "%s %s sent with Transfer-Encoding", r.method, r.path)
	assert.NotEmpty(t, r.lengthHeader, "%s %s has no Content-Length", r.method, r.path)
	assert.Equal(t, strconv.FormatInt(r.bytes, 10), r.lengthHeader, "%s %s: Content-Length vs bytes received", r.method, r.path)
	assert.Equal(t, r.bytes, r.contentLength)
}

func TestUploadDeclaresContentLength(t *testing.T) {
	rec := &recorder{}
	c := rec.start(t)
	const big = 5<<20 + 12345
	var measuredOpens atomic.Int32
	files := []taskip.File{
		text("notes.txt", "first file\n", 11),
		sized(`we"ird \name.bin`, 70_000, 70_000, nil),
		sized(big5Name, big, big, nil),
		text("naïve résumé; v=2.pdf", "%PDF-1.4 tiny", 13),
		text("empty.txt", "", 0),
		// Size left unset: measured by a read before the upload.
		{Name: "unsized.log", Open: func() (io.ReadCloser, error) {
			measuredOpens.Add(1)
			return io.NopCloser(&pattern{n: 33_333}), nil
		}},
	}
	res, err := c.UploadAttachments(context.Background(), 7, files, "several files")
	require.NoError(t, err)
	assert.Len(t, res.UploadedFiles, len(files))
	assert.Equal(t, int32(2), measuredOpens.Load(), "once to measure, once to send")

	reqs := rec.all()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assertSized(t, r)
	require.NoError(t, r.parseErr)
	assert.Greater(t, r.bytes, int64(big))
	want := []receivedFile{
		{name: "notes.txt", contentType: "text/plain", sha: textSHA("first file\n"), size: 11},
		{name: `we"ird \name.bin`, contentType: "application/octet-stream", sha: patternSHA(70_000), size: 70_000},
		{name: big5Name, contentType: "application/octet-stream", sha: patternSHA(big), size: big},
		{name: "naïve résumé; v=2.pdf", contentType: "text/plain", sha: textSHA("%PDF-1.4 tiny"), size: 13},
		{name: "empty.txt", contentType: "text/plain", sha: textSHA(""), size: 0},
		{name: "unsized.log", contentType: "application/octet-stream", sha: patternSHA(33_333), size: 33_333},
	}
	assert.Equal(t, want, r.files)
	assert.Equal(t, "several files", r.description)
}

const big5Name = "big = 5 MiB (dump).bin"

func TestUploadThroughFrontEndRefusingChunked(t *testing.T) {
	e := newEnv(t, taskipfake.Options{RequireContentLength: true})
	tk := e.anyTicket(t)
	const big = 3 << 20
	dir := t.TempDir()
	path := filepath.Join(dir, "report.csv")
	require.NoError(t, os.WriteFile(path, []byte("a,b\n1,2\n"), 0o600))
	local := taskip.LocalFile(path)
	assert.Equal(t, int64(8), local.Size, "LocalFile is sized by stat")

	_, err := e.client.UploadAttachments(context.Background(), taskip.ID(tk.ID), []taskip.File{
		local,
		sized("dump.bin", big, big, nil),
		zeroFile(`quote".bin`, 4096), // unsized: measured
	}, "from the front end test")
	require.NoError(t, err)

	stored := e.fake.Attachments(tk.ID)
	require.GreaterOrEqual(t, len(stored), 3)
	stored = stored[len(stored)-3:]
	assert.Equal(t, []string{"report.csv", "dump.bin", `quote".bin`},
		[]string{stored[0].OriginalFilename, stored[1].OriginalFilename, stored[2].OriginalFilename})
	assert.Equal(t, textSHA("a,b\n1,2\n"), stored[0].SHA256)
	assert.Equal(t, patternSHA(big), stored[1].SHA256)
	assert.Equal(t, []int64{8, big, 4096}, []int64{stored[0].Size, stored[1].Size, stored[2].Size})

	reqs := e.fake.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, http.StatusCreated, reqs[0].Status)
	assert.Empty(t, reqs[0].TransferEncoding)
	assert.Greater(t, reqs[0].ContentLength, int64(big))
}

func TestUploadRetrySendsSameLength(t *testing.T) {
	rec := &recorder{statuses: []int{http.StatusTooManyRequests}}
	c := rec.start(t)
	var opens atomic.Int32
	const big = 2 << 20
	_, err := c.UploadAttachments(context.Background(), 7, []taskip.File{
		sized("retry.bin", big, big, &opens),
		text(`a "quoted" name.txt`, "small", 5),
	}, "retried")
	require.NoError(t, err)
	reqs := rec.all()
	require.Len(t, reqs, 2, "429 then success")
	for _, r := range reqs {
		assertSized(t, r)
		require.NoError(t, r.parseErr)
		require.Len(t, r.files, 2)
		assert.Equal(t, patternSHA(big), r.files[0].sha)
	}
	assert.Equal(t, reqs[0].lengthHeader, reqs[1].lengthHeader, "same length on the retry")
	assert.Equal(t, reqs[0].files, reqs[1].files, "same content on the retry")
	assert.Equal(t, int32(2), opens.Load(), "opened once per attempt")

	// The fake's 429 is answered before the body is read; the retry must
	// still get through a front end that wants the length.
	e := newEnv(t, taskipfake.Options{RequireContentLength: true})
	tk := e.anyTicket(t)
	e.fake.Burst429(1, 0)
	_, err = e.client.UploadAttachments(context.Background(), taskip.ID(tk.ID), []taskip.File{text("x.txt", "hello", 5)}, "")
	require.NoError(t, err)
	fr := e.fake.Requests()
	require.Len(t, fr, 2)
	assert.Equal(t, []int{http.StatusTooManyRequests, http.StatusCreated}, []int{fr[0].Status, fr[1].Status})
	assert.Equal(t, fr[0].ContentLength, fr[1].ContentLength)
	assert.Equal(t, fr[0].Header.Get("Content-Length"), fr[1].Header.Get("Content-Length"))
}

func TestUploadSizeMismatchFails(t *testing.T) {
	const big = 3 << 20
	for name, tc := range map[string]struct {
		files []taskip.File
		msg   string
	}{
		"shorter": {
			files: []taskip.File{sized("short.bin", big-1, big, nil), text("after.txt", "x", 1)},
			msg:   fmt.Sprintf(`"short.bin" ended after %d bytes, %d declared`, big-1, big),
		},
		"longer": {
			files: []taskip.File{sized("long.bin", big+1, big, nil), text("after.txt", "x", 1)},
			msg:   fmt.Sprintf(`"long.bin" is longer than the %d bytes declared`, big),
		},
		"last file shorter": {
			files: []taskip.File{text("first.txt", "fine", 4), text("last.txt", "abc", 4)},
			msg:   `"last.txt" ended after 3 bytes, 4 declared`,
		},
		"last file longer": {
			files: []taskip.File{text("first.txt", "fine", 4), text("last.txt", "abcde", 4)},
			msg:   `"last.txt" is longer than the 4 bytes declared`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, taskipfake.Options{RequireContentLength: true})
			tk := e.anyTicket(t)
			before := len(e.fake.Attachments(tk.ID))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := e.client.UploadAttachments(ctx, taskip.ID(tk.ID), tc.files, "")
			require.Error(t, err)
			assert.ErrorIs(t, err, taskip.ErrSizeMismatch)
			assert.ErrorContains(t, err, tc.msg)
			assert.NotErrorIs(t, err, taskip.ErrOutcomeUnknown, "the body was cut short, so the server cannot have used it")
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, before, len(e.fake.Attachments(tk.ID)), "nothing stored")
			assert.LessOrEqual(t, len(e.fake.Requests()), 1, "not retried")
			assert.Empty(t, e.sleeps.waits)
		})
	}
}

func TestUploadRejectsNegativeSize(t *testing.T) {
	rec := &recorder{}
	c := rec.start(t)
	_, err := c.UploadAttachments(context.Background(), 7, []taskip.File{text("a.txt", "a", -1)}, "")
	assert.ErrorContains(t, err, `"a.txt": negative size -1`)
	assert.Empty(t, rec.all(), "nothing sent")
}

func TestJSONRequestsDeclareContentLength(t *testing.T) {
	e := newEnv(t, taskipfake.Options{RequireContentLength: true})
	ctx := context.Background()
	created, err := e.client.CreateTicket(ctx, taskip.TicketFields{Subject: ptr("Länge"), Priority: ptr(taskip.PriorityLow)})
	require.NoError(t, err)
	_, err = e.client.UpdateTicket(ctx, created.ID, taskip.TicketFields{Subject: ptr("Length")})
	require.NoError(t, err)
	_, err = e.client.AddNote(ctx, created.UUID, "a note")
	require.NoError(t, err)
	_, err = e.client.Reply(ctx, created.UUID, taskip.ReplyFields{Description: "a reply"})
	require.NoError(t, err)
	_, err = e.client.GetTicket(ctx, created.ID)
	require.NoError(t, err)

	reqs := e.fake.Requests()
	require.Len(t, reqs, 5)
	for _, r := range reqs {
		assert.Empty(t, r.TransferEncoding, "%s %s", r.Method, r.Path)
		assert.Less(t, r.Status, 300, "%s %s", r.Method, r.Path)
		if r.Method == http.MethodGet {
			continue
		}
		assert.Equal(t, strconv.Itoa(len(r.Body)), r.Header.Get("Content-Length"), "%s %s", r.Method, r.Path)
		assert.NotEmpty(t, r.Body)
	}
}

// TestUpload64MiBAllocatesLittle sends a generated 64 MiB file to a loopback
// server that discards it: with the length computed from the sizes and the
// body produced while it is sent, the process allocates a small fraction of
// the file, client and server together.
func TestUpload64MiBAllocatesLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB over loopback")
	}
	const size = 64 << 20
	var got atomic.Int64
	var lengthHeader atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lengthHeader.Store(r.Header.Get("Content-Length"))
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"success":true,"data":{"ticket_id":7,"uploaded_files":[]}}`)
	}))
	t.Cleanup(ts.Close)
	c, err := taskip.New(taskip.Config{BaseURL: ts.URL, SecretKey: testKey})
	require.NoError(t, err)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = c.UploadAttachments(context.Background(), 7, []taskip.File{sized("big.bin", size, size, nil)}, "")
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Greater(t, got.Load(), int64(size))
	assert.Equal(t, strconv.FormatInt(got.Load(), 10), lengthHeader.Load())
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB while uploading 64 MiB", allocated>>10)
	assert.Less(t, allocated, uint64(size/16), "allocated %d KiB for a 64 MiB upload", allocated>>10)
}

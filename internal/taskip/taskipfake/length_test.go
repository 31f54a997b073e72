package taskipfake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// unsized hides a reader's length from net/http, which then sends the body
// chunked.
type unsized struct{ r io.Reader }

func (u unsized) Read(p []byte) (int, error) { return u.r.Read(p) }

func TestRequireContentLength(t *testing.T) {
	s, a := start(t, Options{RequireContentLength: true})
	tk := s.SeedTicket(Ticket{Subject: "x"})
	id := fmt.Sprint(tk.ID)

	r := a.send(uploadRequest(t, a, id, []upload{{name: "a.txt", content: strings.NewReader("chunked")}}, ""))
	wantError(t, r, http.StatusLengthRequired, "Length Required")
	eq(t, len(s.Attachments(tk.ID)), 0, "nothing stored from a refused upload")
	last := s.Requests()[len(s.Requests())-1]
	eq(t, []any{last.ContentLength, last.TransferEncoding, last.Status}, []any{int64(-1), []string{"chunked"}, 411}, "log entry")

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("files[]", "a.txt")
	_, _ = io.WriteString(fw, "sized")
	_ = mw.Close()
	size := int64(buf.Len())
	req, err := http.NewRequest("POST", a.base+"/ticket/"+id+"/attachments", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	wantStatus(t, a.send(req), 201)
	eq(t, len(s.Attachments(tk.ID)), 1, "a sized upload is stored")
	last = s.Requests()[len(s.Requests())-1]
	eq(t, []any{last.ContentLength, last.TransferEncoding, last.Header.Get("Content-Length")},
		[]any{size, []string(nil), fmt.Sprint(size)}, "log entry of the sized upload")

	body := `{"subject":"s","priority":1}`
	req, err = http.NewRequest("POST", a.base+"/support-ticket", unsized{strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	wantError(t, a.send(req), http.StatusLengthRequired, "Length Required")
	eq(t, string(s.Requests()[len(s.Requests())-1].Body), body, "refused body logged")
	wantStatus(t, a.do("POST", "/support-ticket", body), 201)
	wantStatus(t, a.do("GET", "/support-ticket", nil), 200)
}

// The front end answers before the application: faults stay queued and an
// unauthenticated request learns about the length first.
func TestRequireContentLengthComesFirst(t *testing.T) {
	s, a := start(t, Options{RequireContentLength: true})
	s.FailNext(1, http.StatusInternalServerError)
	b := *a
	b.key = ""
	req, err := http.NewRequest("POST", a.base+"/support-ticket", unsized{strings.NewReader(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, b.send(req), http.StatusLengthRequired, "Length Required")
	eq(t, s.PendingFaults(), 1, "fault not consumed")
}

// net/http always sends Content-Length: 0 on an empty POST, so the missing
// header is written by hand.
func TestRequireContentLengthOnEmptyPost(t *testing.T) {
	_, a := start(t, Options{RequireContentLength: true})
	u, err := url.Parse(a.base)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(extra string) int {
		t.Helper()
		conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = fmt.Fprintf(conn, "POST %s/support-ticket HTTP/1.1\r\nHost: %s\r\nX-Secret-Key: %s\r\nConnection: close\r\n%s\r\n",
			u.Path, u.Host, a.key, extra)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var env struct{ Error string }
		_ = json.NewDecoder(res.Body).Decode(&env)
		if res.StatusCode == http.StatusLengthRequired && env.Error != "Length Required" {
			t.Errorf("411 envelope error %q", env.Error)
		}
		return res.StatusCode
	}
	eq(t, raw(""), http.StatusLengthRequired, "POST without Content-Length")
	eq(t, raw("Content-Length: 0\r\n"), http.StatusUnprocessableEntity, "an empty body with its length reaches validation")
}

func TestChunkedAcceptedByDefault(t *testing.T) {
	s, a := start(t, Options{})
	tk := s.SeedTicket(Ticket{Subject: "x"})
	wantStatus(t, a.send(uploadRequest(t, a, fmt.Sprint(tk.ID), []upload{{name: "a.txt", content: strings.NewReader("chunked")}}, "")), 201)
	last := s.Requests()[len(s.Requests())-1]
	eq(t, last.TransferEncoding, []string{"chunked"}, "sent chunked")
}

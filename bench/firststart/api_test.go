package firststart

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const secretKey = "bench-secret-key"

// api is taskipfake on loopback behind a stopwatch: the fake's own request
// log has no times, and the figure is when the last ticket was answered.
type api struct {
	fake *taskipfake.Server
	base string // client base URL, …/api/public-v1

	mu      sync.Mutex
	created int       // creates answered 201
	first   time.Time // arrival of the first create
	last    time.Time // answer to the latest create
}

// startAPI starts a fake holding the senders of the unread messages as
// contacts, so the intake finds each one as it would in production.
func startAPI(t testing.TB, senders []int) *api {
	t.Helper()
	fake := taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	for _, i := range senders {
		name, email := customer(i)
		fake.SeedContact(taskipfake.Contact{Name: name, Email: email, CompanyName: fmt.Sprintf("Client %03d GmbH", i%211)})
	}
	a := &api{fake: fake}
	ts := httptest.NewServer(a)
	t.Cleanup(ts.Close)
	a.base = ts.URL + taskipfake.BasePath
	return a
}

var createPath = taskipfake.BasePath + "/support-ticket"

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != createPath {
		a.fake.ServeHTTP(w, r)
		return
	}
	a.mu.Lock()
	if a.first.IsZero() {
		a.first = time.Now()
	}
	a.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	a.fake.ServeHTTP(sw, r)
	if sw.status == http.StatusCreated {
		a.mu.Lock()
		a.created++
		a.last = time.Now()
		a.mu.Unlock()
	}
}

// progress is the creates answered so far and the times of the first
// arrival and the latest answer.
func (a *api) progress() (n int, first, last time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.created, a.first, a.last
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// routes counts the fake's requests by method and path (numbers folded to
// {id}) and those answered outside 2xx.
func routes(reqs []taskipfake.Request) (summary string, failed int) {
	by := map[string]int{}
	for _, r := range reqs {
		if r.Status < 200 || r.Status > 299 {
			failed++
		}
		path := strings.TrimPrefix(r.Path, taskipfake.BasePath)
		parts := strings.Split(path, "/")
		for i, p := range parts {
			if p != "" && strings.Trim(p, "0123456789") == "" {
				parts[i] = "{id}"
			}
		}
		by[r.Method+" "+strings.Join(parts, "/")]++
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("`%s` ×%d", k, by[k])
	}
	return strings.Join(keys, ", "), failed
}

package intake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const secretKey = "bench-secret-key"

// apiServer is one taskipfake on loopback with a stopwatch in front: every
// create (POST /support-ticket) is timestamped on arrival, by the subject in
// its body, and counted when it has been answered 201; uploads are counted
// when answered, and so is every write (any method but GET and HEAD)
// answered 2xx. With a round trip (startRemoteAPI) every request is
// answered that long after it arrived, as by a TaskIP far away.
type apiServer struct {
	fake *taskipfake.Server
	base string        // client base URL, …/api/public-v1
	rtt  time.Duration // injected round trip; set before the server starts

	mu       sync.Mutex
	arrived  map[string]time.Time // subject -> first arrival of its create
	created  map[string]int       // subject -> creates answered 201
	nCreated int
	first    time.Time // arrival of the first create since reset
	last     time.Time // answer to the latest create
	uploads  []time.Time
	changed  chan struct{}

	// Every write: answered 2xx, the first's arrival, the latest answer,
	// and how many were in flight at once (arrived, not yet answered).
	nWrites               int
	firstWrite            time.Time
	lastWrite             time.Time
	inFlight, maxInFlight int
}

func startAPI(t testing.TB, contacts int) *apiServer {
	t.Helper()
	return startRemoteAPI(t, contacts, 0)
}

// startRemoteAPI is startAPI with every request answered rtt after it
// arrived: the sleep is in this handler, in front of taskipfake, so the
// daemon and the baseline loop see the same TaskIP.
func startRemoteAPI(t testing.TB, contacts int, rtt time.Duration) *apiServer {
	t.Helper()
	fake := taskipfake.New(taskipfake.Options{SecretKey: secretKey, MaxUploadBytes: 64 << 20})
	for i := range contacts {
		name, email := customer(i)
		fake.SeedContact(taskipfake.Contact{Name: name, Email: email, CompanyName: fmt.Sprintf("Client %03d GmbH", i%211)})
	}
	tp := &apiServer{fake: fake, rtt: rtt, arrived: map[string]time.Time{}, created: map[string]int{}, changed: make(chan struct{}, 1)}
	ts := httptest.NewServer(tp)
	t.Cleanup(ts.Close)
	tp.base = ts.URL + taskipfake.BasePath
	return tp
}

var (
	createPath = taskipfake.BasePath + "/support-ticket"
	uploadPath = regexp.MustCompile(`^` + regexp.QuoteMeta(taskipfake.BasePath) + `/ticket/\d+/attachments$`)
)

func (tp *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if write {
		tp.mu.Lock()
		if tp.firstWrite.IsZero() {
			tp.firstWrite = now
		}
		tp.inFlight++
		tp.maxInFlight = max(tp.maxInFlight, tp.inFlight)
		tp.mu.Unlock()
		defer func() {
			tp.mu.Lock()
			tp.inFlight--
			tp.mu.Unlock()
		}()
	}
	if tp.rtt > 0 {
		// The round trip: the request is handled, and answered, rtt
		// after it arrived.
		wait := time.NewTimer(tp.rtt)
		select {
		case <-wait.C:
		case <-r.Context().Done():
			wait.Stop()
			return
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == createPath:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(sw, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		in := struct{ Subject string }{subjectOf(body)}
		tp.mu.Lock()
		if _, ok := tp.arrived[in.Subject]; !ok {
			tp.arrived[in.Subject] = now
		}
		if tp.first.IsZero() {
			tp.first = now
		}
		tp.mu.Unlock()
		tp.fake.ServeHTTP(sw, r)
		if sw.status == http.StatusCreated {
			tp.mu.Lock()
			tp.created[in.Subject]++
			tp.nCreated++
			tp.last = time.Now()
			tp.mu.Unlock()
		}
	case r.Method == http.MethodPost && uploadPath.MatchString(r.URL.Path):
		tp.fake.ServeHTTP(sw, r)
		if sw.status == http.StatusCreated {
			tp.mu.Lock()
			tp.uploads = append(tp.uploads, time.Now())
			tp.mu.Unlock()
		}
	default:
		tp.fake.ServeHTTP(sw, r)
	}
	if write && sw.status >= 200 && sw.status <= 299 {
		tp.mu.Lock()
		tp.nWrites++
		tp.lastWrite = time.Now()
		tp.mu.Unlock()
	}
	if write {
		tp.notify()
	}
}

// subjectOf reads the subject of a create without decoding the rest of the
// body: the stopwatch runs on every create, on the machine it measures.
func subjectOf(body []byte) string {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return ""
	}
	for {
		name, err := dec.ReadToken()
		if err != nil || name.Kind() != '"' {
			return ""
		}
		if name.String() != "subject" {
			if err := dec.SkipValue(); err != nil {
				return ""
			}
			continue
		}
		v, err := dec.ReadToken()
		if err != nil {
			return ""
		}
		return v.String()
	}
}

func (tp *apiServer) notify() {
	select {
	case tp.changed <- struct{}{}:
	default:
	}
}

// reset starts a new phase: counters and the fake's request log are
// emptied (tickets stay).
func (tp *apiServer) reset() {
	tp.mu.Lock()
	tp.nCreated, tp.first, tp.last, tp.uploads = 0, time.Time{}, time.Time{}, nil
	tp.nWrites, tp.firstWrite, tp.lastWrite, tp.maxInFlight = 0, time.Time{}, time.Time{}, tp.inFlight
	tp.mu.Unlock()
	tp.fake.ResetRequests()
}

// waitFor blocks until cond holds (checked on every create or upload and
// every 100 ms) or timeout passes.
func (tp *apiServer) waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		tp.mu.Lock()
		ok := cond()
		tp.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-tp.changed:
		case <-tick.C:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func (tp *apiServer) creates() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.nCreated
}

// duplicates returns the subjects created more than once.
func (tp *apiServer) duplicates() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []string
	for s, n := range tp.created {
		if n > 1 {
			out = append(out, fmt.Sprintf("%q x%d", s, n))
		}
	}
	sort.Strings(out)
	return out
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

// requestMix summarises the fake's request log of one phase.
type requestMix struct {
	total, reads, writes int
	failed               int            // answers outside 2xx
	byRoute              map[string]int // "GET /contact" -> n
}

var numericSegment = regexp.MustCompile(`/\d+(/|$)`)

func summarise(reqs []taskipfake.Request) requestMix {
	m := requestMix{byRoute: map[string]int{}}
	for _, r := range reqs {
		m.total++
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			m.reads++
		} else {
			m.writes++
		}
		if r.Status < 200 || r.Status > 299 {
			m.failed++
		}
		route := strings.TrimPrefix(r.Path, taskipfake.BasePath)
		route = numericSegment.ReplaceAllString(route, "/{id}$1")
		m.byRoute[r.Method+" "+route]++
	}
	return m
}

func (m requestMix) routes() string {
	keys := make([]string, 0, len(m.byRoute))
	for k := range m.byRoute {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m.byRoute[k]))
	}
	return strings.Join(parts, ", ")
}

func TestSubjectOf(t *testing.T) {
	for body, want := range map[string]string{
		`{"subject":"VPN down (ref x-00001)","priority":1}`:                "VPN down (ref x-00001)",
		`{"priority":1,"tags":{"a":[1,2]},"subject":"Caf\u00e9 \"open\""}`: `Café "open"`,
		`{"priority":1}`: "",
		`not json`:       "",
	} {
		if got := subjectOf([]byte(body)); got != want {
			t.Errorf("subjectOf(%s) = %q, want %q", body, got, want)
		}
	}
}

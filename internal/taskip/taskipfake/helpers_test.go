package taskipfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "s3cret-key"

// clock is a settable clock for tests that need exact timestamps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 1, 16, 10, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// api is a deliberately plain net/http client.
type api struct {
	t    testing.TB
	base string
	key  string
	hc   *http.Client
}

func start(t testing.TB, opts Options) (*Server, *api) {
	t.Helper()
	if opts.SecretKey == "" {
		opts.SecretKey = testKey
	}
	s, base := NewHTTPTest(t, opts)
	return s, &api{t: t, base: base, key: opts.SecretKey, hc: &http.Client{Timeout: 30 * time.Second}}
}

// startExamples is start with SeedExamples and a fixed clock.
func startExamples(t testing.TB) (*Server, *api, *clock) {
	t.Helper()
	clk := newClock()
	s, a := start(t, Options{Now: clk.Now})
	s.SeedExamples()
	return s, a, clk
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	body   any
}

// get walks a dotted path ("data.user.name", "data.0.id") into the body.
func (r resp) get(path string) any {
	var cur any = r.body
	for _, part := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			var ok bool
			if cur, ok = v[part]; !ok {
				return missing{}
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(v) {
				return missing{}
			}
			cur = v[i]
		default:
			return missing{}
		}
	}
	return cur
}

type missing struct{}

func (r resp) num(path string) int {
	f, ok := r.get(path).(float64)
	if !ok {
		panic(fmt.Sprintf("%s is %#v, not a number; body %s", path, r.get(path), r.raw))
	}
	return int(f)
}

func (r resp) str(path string) string {
	s, ok := r.get(path).(string)
	if !ok {
		panic(fmt.Sprintf("%s is %#v, not a string; body %s", path, r.get(path), r.raw))
	}
	return s
}

func (r resp) list(path string) []any {
	l, ok := r.get(path).([]any)
	if !ok {
		panic(fmt.Sprintf("%s is %#v, not a list; body %s", path, r.get(path), r.raw))
	}
	return l
}

// do sends body as JSON unless it is a string or []byte, which go raw.
func (a *api) do(method, path string, body any) resp {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.send(req)
}

func (a *api) send(req *http.Request) resp {
	a.t.Helper()
	if a.key != "" {
		req.Header.Set("X-Secret-Key", a.key)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	out := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			a.t.Fatalf("%s %s: response is not JSON: %q", req.Method, req.URL, raw)
		}
	}
	return out
}

func eq(t testing.TB, got, want any, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}

func wantStatus(t testing.TB, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
}

// wantError checks the error envelope and returns its field errors.
func wantError(t testing.TB, r resp, status int, errType string) map[string]any {
	t.Helper()
	wantStatus(t, r, status)
	eq(t, r.get("success"), false, "success")
	eq(t, r.get("error"), errType, "error")
	eq(t, r.num("status_code"), status, "status_code")
	if _, ok := r.get("message").(string); !ok {
		t.Errorf("message missing in %s", r.raw)
	}
	fields, _ := r.get("errors").(map[string]any)
	if status != http.StatusUnprocessableEntity && fields != nil {
		t.Errorf("errors present on %d: %s", status, r.raw)
	}
	return fields
}

func fieldNames(fields map[string]any) []string {
	var out []string
	for k := range fields {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the current output")

// testKey must never show up in any output; every run checks it.
const testKey = "sk-live-7c1e0f9a2b4d4e8f"

// fixedNow is the clock of both the fake and the CLI, so ages such as
// "4h ago" are stable.
var fixedNow = time.Date(2024, 1, 16, 15, 0, 0, 0, time.UTC)

type harness struct {
	t    *testing.T
	fake *taskipfake.Server
	vars map[string]string
}

// newHarness starts a fake seeded with the reference's examples (tickets
// 1, 2, 3 and 45) and an empty request log.
func newHarness(t *testing.T) *harness {
	t.Helper()
	fake, base := taskipfake.NewHTTPTest(t, taskipfake.Options{
		SecretKey: testKey,
		Now:       func() time.Time { return fixedNow },
	})
	fake.SeedExamples()
	fake.ResetRequests()
	return &harness{t: t, fake: fake, vars: map[string]string{
		envBaseURL:   base,
		envSecretKey: testKey,
	}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (h *harness) run(args ...string) result {
	h.t.Helper()
	var out, errOut bytes.Buffer
	env := Env{
		Stdout: &out,
		Stderr: &errOut,
		Getenv: func(k string) string { return h.vars[k] },
		Now:    func() time.Time { return fixedNow },
	}
	code := RunTicket(context.Background(), env, args)
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	if strings.Contains(r.stdout, testKey) || strings.Contains(r.stderr, testKey) {
		h.t.Errorf("ticket %s: the secret key appears in the output:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	}
	return r
}

// mustRun runs a command that has to succeed.
func (h *harness) mustRun(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("ticket %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	if r.stderr != "" {
		h.t.Errorf("ticket %s: unexpected stderr:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r.stdout
}

// calls lists the requests the fake saw as "METHOD /path", without the
// base path, for asserting which lookups were made.
func (h *harness) calls() []string {
	var out []string
	for _, r := range h.fake.Requests() {
		out = append(out, r.Method+" "+strings.TrimPrefix(r.Path, taskipfake.BasePath))
	}
	return out
}

// randomUUID matches uuids the fake generates for new tickets; the seeded
// ones (550e8400-…) are fixed and stay in the goldens.
var randomUUID = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b`)

// loopback matches the fake's URL, which changes with every run.
var loopback = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)

func scrub(s string) string {
	s = loopback.ReplaceAllString(s, "http://127.0.0.1:PORT")
	return randomUUID.ReplaceAllStringFunc(s, func(u string) string {
		if strings.HasPrefix(u, "550e8400-") {
			return u
		}
		return "00000000-0000-4000-8000-000000000000"
	})
}

// golden compares got with testdata/golden/name.golden, or rewrites it
// with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	got = scrub(got)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// writeFile creates a file of n bytes in dir and returns its path.
func writeFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), n), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envAsBinary makes the test binary behave as the ticketsync binary, so
// that the README's shell blocks run the real entry point (signals
// included) without a separate go build.
const envAsBinary = "TICKETSYNC_TEST_AS_BINARY"

func init() {
	if os.Getenv(envAsBinary) == "1" {
		os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
	}
}

const (
	readmePath = "../../README.md"
	// docTestMarker goes on the line before a fenced shell block that
	// TestReadmeCLIWalkthrough runs.
	docTestMarker = "<!-- doc-test: cli -->"
	// buildLine is how the README says to get bin/ticketsync, which the
	// walkthrough then calls.
	buildLine = "go build -o bin/ticketsync ./cmd/ticketsync"
	// readmeListen is the fake's address in the README, replaced by a
	// free port here.
	readmeListen = "127.0.0.1:8081"
)

// The seeded tickets of fake-taskip; the walkthrough must act on the one
// it creates, never on these.
var seededIDs = []int{1, 2, 3, 45}

type shellBlock struct {
	line  int // of the opening fence, 1-based
	lines []string
}

// readmeBlocks returns the fenced sh blocks of the README, and which of
// them carry the doc-test marker.
func readmeBlocks(t *testing.T) (all, marked []shellBlock) {
	t.Helper()
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	markedNext := false
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		switch {
		case trimmed == docTestMarker:
			markedNext = true
			continue
		case trimmed == "":
			continue
		case trimmed != "```sh" && trimmed != "```bash":
			if markedNext {
				t.Fatalf("README.md:%d: %s is not followed by a ```sh block", i, docTestMarker)
			}
			if strings.HasPrefix(trimmed, "```") {
				// Skip other fenced blocks whole: their lines are no markers.
				for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				}
			}
			continue
		}
		b := shellBlock{line: i + 1}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			// A continued line is one command.
			if n := len(b.lines); n > 0 && strings.HasSuffix(b.lines[n-1], "\\") {
				b.lines[n-1] = strings.TrimSuffix(b.lines[n-1], "\\") + strings.TrimSpace(lines[i])
				continue
			}
			b.lines = append(b.lines, lines[i])
		}
		all = append(all, b)
		if markedNext {
			marked = append(marked, b)
		}
		markedNext = false
	}
	if len(marked) == 0 {
		t.Fatalf("README.md has no %s block", docTestMarker)
	}
	return all, marked
}

// TestReadmeBinaryFirst: the README says how to get the binary before any
// block calls it, and never leaves a `go run` in the background, which
// orphans the real process when the go command is killed.
func TestReadmeBinaryFirst(t *testing.T) {
	all, _ := readmeBlocks(t)
	built := false
	for _, b := range all {
		for _, l := range b.lines {
			cmd := strings.TrimSpace(l)
			if cmd == buildLine {
				built = true
			}
			if (strings.HasPrefix(cmd, "ticketsync ") || strings.HasPrefix(cmd, "bin/ticketsync ")) && !built {
				t.Errorf("README.md:%d calls %q before a block shows %q", b.line, cmd, buildLine)
			}
			if strings.Contains(cmd, "go run") && strings.HasSuffix(cmd, "&") {
				t.Errorf("README.md:%d: %q leaves the real process behind when the go command is killed", b.line, cmd)
			}
		}
	}
	if !built {
		t.Errorf("README.md never shows %q", buildLine)
	}
}

// assignment is a line that keeps a command's output: ID=$(...).
var assignment = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)$`)

// literalRef is a ticket verb given a literal id, i.e. a seeded ticket.
var literalRef = regexp.MustCompile(`ticket [a-z-]+ "?#?[0-9]+\b`)

// TestReadmeCLIWalkthrough runs the README's marked shell blocks in one
// bash, as a reader pasting them would, with bin/ticketsync being this
// binary and the fake on a free loopback port. Every command must exit
// 0; the ticket created must be the one the later commands work on; and
// the fake must be gone after the README's way of stopping it.
func TestReadmeCLIWalkthrough(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	_, blocks := readmeBlocks(t)
	var lines []string
	for _, b := range blocks {
		lines = append(lines, b.lines...)
	}

	// Static: the created id is captured with --quiet and used after.
	idVar, created := "", -1
	for i, l := range lines {
		if m := assignment.FindStringSubmatch(strings.TrimSpace(l)); m != nil && strings.Contains(m[2], "ticket create") {
			if !strings.Contains(m[2], "--quiet") {
				t.Errorf("%q: ticket create without --quiet prints more than the id", l)
			}
			idVar, created = m[1], i
		}
		if m := literalRef.FindString(l); m != "" {
			t.Errorf("%q acts on a fixed ticket (%s), not on the one the walkthrough created", l, m)
		}
	}
	if idVar == "" {
		t.Fatal("the walkthrough does not keep the id of the ticket it creates (ID=$(... ticket create ... --quiet))")
	}
	useOfID := regexp.MustCompile(`\$\{?` + idVar + `\b`)
	var usesID []int
	for i, l := range lines[created+1:] {
		if useOfID.MatchString(l) {
			usesID = append(usesID, created+1+i)
		}
	}
	if len(usesID) < 3 {
		t.Errorf("only %d commands use $%s, the ticket created", len(usesID), idVar)
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "bin", "ticketsync")); err != nil {
		t.Fatal(err)
	}
	// The walkthrough attaches ./README.md.
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), readme, 0o644); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	script.WriteString(`trap 'echo "doc-test: exit $? from: $BASH_COMMAND" >&2' ERR` + "\n")
	substituted := 0
	for i, l := range lines {
		substituted += strings.Count(l, readmeListen)
		l = strings.ReplaceAll(l, readmeListen, listen)
		fmt.Fprintf(&script, "echo '@@ %d'\n%s\n", i, l)
		if m := assignment.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			fmt.Fprintf(&script, "printf '%%s\\n' \"$%s\"\n", m[1])
		}
		if strings.HasSuffix(strings.TrimSpace(l), "&") {
			// A reader types the next line slower than the fake starts;
			// bash does not.
			fmt.Fprintf(&script, "for ((i = 0; i < 100; i++)); do (exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null && break; sleep 0.1; done\n", port)
		}
	}
	if substituted < 2 {
		t.Fatalf("the walkthrough names %s %d times; the fake's --listen and TASKIP_BASE_URL should both use it", readmeListen, substituted)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-c", script.String())
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, envAsBinary + "=1"}
	// Its own process group, so that a failure halfway cannot leave the
	// fake running: the cleanup ends the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A fake left running by a failed line holds stdout open; without a
	// limit Wait would wait for it.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	if err := cmd.Wait(); errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("the walkthrough ended but left a process holding its output: is the fake stopped?\nstdout:\n%s", stdout.String())
	} else if err != nil {
		t.Fatalf("the walkthrough failed: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}

	out, fakeSaid := splitSections(t, stdout.String(), len(lines))
	if !strings.Contains(fakeSaid, "http://"+listen+"/api/public-v1") {
		t.Errorf("fake-taskip did not announce its base URL; it said %q", fakeSaid)
	}
	id, err := strconv.Atoi(strings.TrimSpace(out[created]))
	if err != nil || id <= 0 || slices.Contains(seededIDs, id) {
		t.Fatalf("ticket create --quiet printed %q, want the id of a new ticket", out[created])
	}
	for _, i := range usesID {
		got := out[i]
		if strings.Contains(lines[i], "--json") {
			var tk struct {
				ID int `json:"id"`
			}
			if err := json.Unmarshal([]byte(got), &tk); err != nil || tk.ID != id {
				t.Errorf("%q printed ticket %d (%v), want %d:\n%s", lines[i], tk.ID, err, id, got)
			}
			continue
		}
		if !strings.Contains(got, "#"+strconv.Itoa(id)) {
			t.Errorf("%q does not name ticket #%d:\n%s", lines[i], id, got)
		}
	}

	// The README's way of stopping the fake must free its port.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err != nil {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers after the walkthrough stopped the fake", listen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// splitSections cuts the script's stdout at the "@@ N" markers into the
// output of each README line. fake-taskip's announcement is written from
// the background whenever it starts, so it is taken out and returned
// apart.
func splitSections(t *testing.T, stdout string, n int) (sections []string, fake string) {
	t.Helper()
	sections = make([]string, n)
	cur := -1
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "@@ "); ok {
			if i, err := strconv.Atoi(rest); err == nil && i >= 0 && i < n {
				cur = i
				continue
			}
		}
		if strings.HasPrefix(line, "fake TaskIP listening") {
			fake += line + "\n"
			continue
		}
		if cur < 0 {
			t.Fatalf("output before the first command: %q", line)
		}
		sections[cur] += line + "\n"
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sections, fake
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

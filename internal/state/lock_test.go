package state

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holdLockEnv makes the test binary, re-executed as a child, hold the lock on
// the named file. A child process is needed because flock is per open file
// description: only another process is a faithful "second instance".
const holdLockEnv = "TICKETSYNC_STATE_HOLD_LOCK"

const helperReady = "HELPER-HOLDS-LOCK"

// TestHelperHoldLock is not a test: it is the child process of
// TestLockHeldByAnotherProcess. It opens the store, says so on stdout and
// holds the lock until its stdin closes.
func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv(holdLockEnv)
	if path == "" {
		t.Skip("helper process for TestLockHeldByAnotherProcess")
	}
	s, err := Open(Config{Path: path})
	if err != nil {
		fmt.Println("HELPER-ERROR", err)
		os.Exit(1)
	}
	fmt.Println(helperReady)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.Close()
}

// startLockHolder runs the helper and returns once it holds the lock; the
// returned func releases it and waits for the child to exit.
func startLockHolder(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, helperReady) || strings.HasPrefix(line, "HELPER-ERROR") {
				ready <- line
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		require.Equal(t, helperReady, line)
	case <-time.After(30 * time.Second):
		t.Fatal("helper process did not take the lock")
	}
	return func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process and waits for the lock timeout")
	}
	clk := newClock()
	cfg := testConfig(t, clk)
	// Create the file first so the read-only open below has something to open.
	s := openStore(t, cfg)
	require.NoError(t, s.Close())

	release := startLockHolder(t, cfg.Path)

	cfg.LockTimeout = time.Second
	start := time.Now()
	_, err := Open(cfg)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), cfg.Path)
	assert.Contains(t, err.Error(), "another ticketsync instance is probably running")
	assert.Less(t, elapsed, 2*time.Second, "gives up after about LockTimeout")
	assert.Greater(t, elapsed, 800*time.Millisecond, "waits about LockTimeout, not zero")

	// `state dump` must fail the same way rather than hang.
	cfg.LockTimeout = 200 * time.Millisecond
	_, err = OpenReadOnly(cfg)
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), cfg.Path)

	// Once the other process is gone the file opens again.
	release()
	s = openStore(t, cfg)
	require.NoError(t, s.SetCursor("INBOX", Cursor{UIDValidity: 1, LastUID: 1}))
}

func TestLockHeldInSameProcess(t *testing.T) {
	s, clk := newStore(t)
	cfg := Config{Path: s.Path(), LockTimeout: 100 * time.Millisecond, Now: clk.Now}

	start := time.Now()
	_, err := Open(cfg)
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), s.Path())
	assert.Contains(t, err.Error(), "another ticketsync instance is probably running")
	assert.Less(t, time.Since(start), time.Second)

	_, err = OpenReadOnly(cfg)
	require.ErrorIs(t, err, ErrLocked)

	require.NoError(t, s.Close())
	openStore(t, cfg)
}

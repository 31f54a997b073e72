package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// mountTmpfs mounts a tmpfs of size bytes for the test, or skips it where
// the machine does not allow mounting (not root, no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the injected-failure test covers the same paths", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes to dir until the file system is full and returns the
// filler's path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "filling stops at a full disk, not at %v", err)
			return path
		}
	}
}

// The state file lies on a real 2 MiB file system that fills up while a
// customer's long answer (its text goes into the state file before the
// TaskIP write) and a web-app ticket arrive. Nothing is done twice while
// the disk is full, and once space returns everything is done exactly
// once.
func TestScenarioRealDiskFillsUp(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	e := startScenarioDaemonWith(t, nil, scenarioOptions{StatePath: filepath.Join(dir, "state.db")})
	e.customerMails(mailMsg("cy-1@customers.test", "Cy Dee <cy@customers.test>", "Export stops halfway", "Hello.\n"))
	tk := e.ticketBySubject("Export stops halfway")
	e.threadTS(tk.ID)
	e.mails(1)

	filler := fill(t, dir)
	long := strings.Repeat("The export stops at row 4096 and the log says nothing useful at all.\n", 2500) // ~170 KB
	e.customerMails(mailMsg("cy-2@customers.test", "Cy Dee <cy@customers.test>", "Re: Export stops halfway", long,
		"In-Reply-To: <cy-1@customers.test>"))
	web := e.taskip.SeedTicket(taskipfake.Ticket{Subject: "Made while the disk was full", Priority: taskipfake.PriorityNormal,
		Status: taskipfake.StatusOpen, User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}})
	require.Eventually(t, func() bool {
		code, body := getFrom(t, "http://"+e.d.Addr()+"/readyz")
		return code == 503 && strings.Contains(body, "state: writes to the state file are failing")
	}, scWait, scTick, "/readyz reports the full disk")
	time.Sleep(2 * time.Second) // polls and intake retries on the full disk
	assert.Empty(t, e.taskip.Replies(tk.ID), "no TaskIP write before its intent is recorded")
	assert.LessOrEqual(t, parents(e, web.Subject), 1)
	_, metrics := getFrom(t, "http://"+e.d.Addr()+"/metrics")
	assert.NotContains(t, metrics, "ticketsync_state_commit_failures_total 0\n")

	require.NoError(t, os.Remove(filler))
	require.Eventually(t, func() bool { return len(e.taskip.Replies(tk.ID)) == 1 }, scWait, scTick, "the answer joins its ticket")
	e.threadTS(web.ID)
	require.Eventually(t, func() bool { code, _ := getFrom(t, "http://"+e.d.Addr()+"/readyz"); return code == 200 }, scWait, scTick)
	time.Sleep(1500 * time.Millisecond)
	assert.Len(t, e.taskip.Replies(tk.ID), 1)
	assert.Equal(t, 1, parents(e, web.Subject))
	assert.Equal(t, 1, parents(e, tk.Subject))
	assert.Equal(t, 1, countSubject(e.taskip.Tickets(), tk.Subject), "the answer made no ticket of its own")
	assert.Len(t, e.smtp.Messages(), 1, "one acknowledgement, nothing else")
}

package bridge

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// A small mail with hundreds of tiny attachments costs a few TaskIP calls,
// not one note per refused file, and the note gives each file its real
// reason (too many files), not a size it never had.
func TestManyTinyAttachmentsCostOneNote(t *testing.T) {
	e := newIntakeEnv(t, nil)
	var b strings.Builder
	b.WriteString("Return-Path: <john@acme.com>\r\nFrom: John Smith <john@acme.com>\r\nTo: " + supportAddr + "\r\n")
	b.WriteString("Subject: Logs\r\nMessage-ID: <many-files@acme.com>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the logs.\r\n")
	for i := range 400 {
		fmt.Fprintf(&b, "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"log-%d.txt\"\r\n\r\nx\r\n", i)
	}
	b.WriteString("--b--\r\n")
	e.deliver([]byte(b.String()))
	e.fake.ResetRequests()
	e.cycle()
	tk := scenarioOnlyTicket(t, e)
	assert.Len(t, e.fake.Attachments(tk.ID), 100, "the first hundred are uploaded")
	notes := scenarioNoteTexts(e.fake.Notes(tk.ID))
	require.Len(t, notes, 1)
	assert.Contains(t, notes[0], "300 attachments of the email from john@acme.com were not uploaded")
	assert.Contains(t, notes[0], "more than 100 attachments in one message")
	assert.NotContains(t, notes[0], "limit")
	writes := e.countRequests(func(r taskipfake.Request) bool { return r.Method != "GET" })
	assert.LessOrEqual(t, writes, 3, "create, upload, one note")
}

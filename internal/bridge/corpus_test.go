package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

var update = flag.Bool("update", false, "rewrite golden files")

// corpusAction is the golden record of what the intake would do with one
// corpus message.
type corpusAction struct {
	Skip        string              `json:"skip,omitempty"`
	ThreadKeys  []mapping.ThreadKey `json:"thread_keys,omitempty"`
	Action      string              `json:"action,omitempty"`
	Subject     string              `json:"subject,omitempty"`
	Priority    string              `json:"priority,omitempty"`
	Text        []string            `json:"text,omitempty"`
	Attachments []string            `json:"attachments,omitempty"`
	ExtraNotes  []string            `json:"extra_notes,omitempty"`
}

// TestCorpusActions runs every message of the mail corpus through the
// intake's decision (screen, thread, decide) and compares the action and
// its text with a golden file. Tickets that corpus replies point at exist;
// their customer is the replying sender, so replies read as replies.
func TestCorpusActions(t *testing.T) {
	const corpus = "../mail/mime/testdata/corpus"
	files, err := filepath.Glob(filepath.Join(corpus, "*.eml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 25)
	inputs := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		inputs[strings.TrimSuffix(filepath.Base(f), ".eml")] = raw
	}
	inputs["33-oversize"] = oversizeMail(2 << 20)

	th, err := mapping.NewThreading("support@example.com", "[#{{.UUID}}]")
	require.NoError(t, err)
	screening := mapping.Screening{OurAddresses: []string{"support@example.com"}}
	for name, raw := range inputs {
		t.Run(name, func(t *testing.T) {
			got := decideCorpus(t, raw, th, screening)
			b, err := json.MarshalIndent(got, "", "  ")
			require.NoError(t, err)
			b = append(b, '\n')
			golden := filepath.Join("testdata", "corpus-actions", name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, b, 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run with -update to create")
			require.Equal(t, string(want), string(b))
		})
	}
}

func decideCorpus(t *testing.T, raw []byte, th *mapping.Threading, s mapping.Screening) corpusAction {
	msg, err := mime.Parse(bytes.NewReader(raw), mime.ParseOptions{MaxMessageBytes: 1 << 20, SpoolDir: t.TempDir()})
	tooLarge := errors.Is(err, mime.ErrMessageTooLarge)
	if err != nil && !tooLarge {
		return corpusAction{Action: "quarantine: " + err.Error()}
	}
	defer msg.Cleanup()
	e := toEmail(msg, tooLarge, int64(len(raw)))
	var out corpusAction
	if reason := mapping.Screen(e, s); reason != "" {
		out.Skip = string(reason)
		return out
	}
	out.ThreadKeys = th.Keys(e)
	ctx := mapping.IntakeContext{MaxMessageBytes: 1 << 20, UserID: 15}
	for _, k := range out.ThreadKeys {
		// Our outbound ids and the corpus's ticket uuids name known tickets.
		if k.Kind != mapping.KeyMessageID || strings.HasPrefix(k.Value, "ticketsync.") {
			ctx.Ticket = &mapping.Ticket{ID: 45, UUID: "550e8400-e29b-41d4-a716-446655440001", Status: taskip.StatusInProgress, CustomerEmail: e.FromEmail}
			break
		}
	}
	a := mapping.DecideIntake(e, ctx)
	out.Action = string(a.Kind)
	out.Subject = a.Subject
	text := a.Text
	if a.Kind == mapping.ActCreate {
		out.Priority = a.Priority.String()
		text = a.Description
	}
	out.Text = strings.Split(text, "\n")
	for _, f := range e.Attachments {
		out.Attachments = append(out.Attachments, fmt.Sprintf("%s (%d bytes)", f.Name, f.Size))
	}
	out.ExtraNotes = a.ExtraNotes
	return out
}

// oversizeMail is a message of about size bytes: a short text and a big
// base64 attachment, generated so the repository carries no megabytes.
func oversizeMail(size int) []byte {
	var b bytes.Buffer
	b.WriteString("Return-Path: <big@files.example>\r\nFrom: Big Files <big@files.example>\r\nTo: support@example.com\r\n" +
		"Subject: The full database dump\r\nMessage-ID: <oversize@files.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nHere is the dump you asked for.\r\n" +
		"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=dump.sql\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUFB", 19) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString("--B--\r\n")
	return b.Bytes()
}

package mime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// update rewrites the golden files: go test ./internal/mail/mime -run TestCorpusGolden -update
// Other test files of this package must not define a flag with this name.
var update = flag.Bool("update", false, "rewrite testdata/corpus/*.golden")

const corpusDir = "testdata/corpus"

// corpusCase is one corpus message: a file, or generated for size.
type corpusCase struct {
	name string
	data func(t testing.TB) []byte
	opts ParseOptions
}

// generated are corpus entries built by code so the repository does not
// carry megabytes; testdata/corpus/README.md lists them with the files.
var generated = []corpusCase{
	{
		name: "33-oversize",
		data: func(testing.TB) []byte { return oversizeMessage(2 << 20) },
		opts: ParseOptions{MaxMessageBytes: 1 << 20},
	},
}

func corpusCases(t testing.TB) []corpusCase {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	require.NoError(t, err)
	var cases []corpusCase
	for _, f := range files {
		cases = append(cases, corpusCase{
			name: strings.TrimSuffix(filepath.Base(f), ".eml"),
			data: func(t testing.TB) []byte {
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				return b
			},
		})
	}
	cases = append(cases, generated...)
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases
}

// oversizeMessage is a small reply plus a base64 attachment that brings
// the message to about size bytes.
func oversizeMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("Return-Path: <big@files.example>\r\n" +
		"From: Big Files <big@files.example>\r\n" +
		"To: support@example.com\r\n" +
		"Subject: The full database dump\r\n" +
		"Date: Sat, 20 Jan 2024 10:00:00 +0100\r\n" +
		"Message-ID: <oversize@files.example>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n" +
		"--big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Here is the dump you asked for.\r\n\r\n" +
		"--big\r\nContent-Type: application/octet-stream; name=\"dump.sql\"\r\n" +
		"Content-Disposition: attachment; filename=\"dump.sql\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUJD", 19) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString("--big--\r\n")
	return b.Bytes()
}

type golden struct {
	Error           string          `json:"error,omitempty"`
	MessageID       string          `json:"message_id"`
	InReplyTo       []string        `json:"in_reply_to"`
	References      []string        `json:"references"`
	From            Address         `json:"from"`
	To              []Address       `json:"to"`
	Cc              []Address       `json:"cc,omitempty"`
	ReplyTo         []Address       `json:"reply_to,omitempty"`
	DeliveredTo     []string        `json:"delivered_to,omitempty"`
	ReturnPath      string          `json:"return_path"`
	EmptyReturnPath bool            `json:"empty_return_path"`
	Subject         string          `json:"subject"`
	Date            string          `json:"date"`
	Header          Header          `json:"header"`
	ContentType     string          `json:"content_type"`
	ReportType      string          `json:"report_type,omitempty"`
	TextFromHTML    bool            `json:"text_from_html"`
	HTMLBytes       int             `json:"html_bytes"`
	Text            []string        `json:"text"` // lines, so a diff reads like the mail
	Stripped        []string        `json:"stripped"`
	Attachments     []goldenAttach  `json:"attachments"`
	Refused         []goldenRefusal `json:"refused"`
	Problems        []string        `json:"problems"`
	Size            int64           `json:"size"`
}

type goldenAttach struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Inline      bool   `json:"inline"`
	ContentID   string `json:"content_id,omitempty"`
	SHA256      string `json:"sha256"`
}

type goldenRefusal struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Reason      string `json:"reason"`
}

func toGolden(t testing.TB, m *Message, err error) golden {
	g := golden{
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References,
		From: m.From, To: m.To, Cc: m.Cc, ReplyTo: m.ReplyTo, DeliveredTo: m.DeliveredTo,
		ReturnPath: m.ReturnPath, EmptyReturnPath: m.EmptyReturnPath, Subject: m.Subject,
		Header: m.Header, ContentType: m.ContentType, ReportType: m.ReportType,
		TextFromHTML: m.TextFromHTML, HTMLBytes: len(m.HTML),
		Text: goldenLines(m.Text), Stripped: goldenLines(StripQuoted(m.Text)),
		Attachments: []goldenAttach{}, Refused: []goldenRefusal{}, Problems: m.Problems, Size: m.Size,
	}
	if err != nil {
		g.Error = err.Error()
	}
	if !m.Date.IsZero() {
		g.Date = m.Date.Format(time.RFC3339)
	}
	for _, l := range []*[]string{&g.InReplyTo, &g.References, &g.Problems} {
		if *l == nil {
			*l = []string{}
		}
	}
	for _, a := range m.Attachments {
		assert.Equal(t, a.SHA256, fileSHA256(t, a), "spooled content of %s", a.Filename)
		g.Attachments = append(g.Attachments, goldenAttach{a.Filename, a.ContentType, a.Size, a.Inline, a.ContentID, a.SHA256})
	}
	for _, r := range m.Refused {
		g.Refused = append(g.Refused, goldenRefusal(r))
	}
	return g
}

func goldenLines(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

func fileSHA256(t testing.TB, a Attachment) string {
	rc, err := a.Open()
	require.NoError(t, err)
	defer rc.Close()
	h := sha256.New()
	_, err = io.Copy(h, rc)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

func encodeGolden(g golden) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestCorpusGolden(t *testing.T) {
	cases := corpusCases(t)
	require.GreaterOrEqual(t, len(cases), 30, "the corpus must keep at least 30 messages")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spool := t.TempDir()
			opts := c.opts
			opts.SpoolDir = spool
			m, err := Parse(bytes.NewReader(c.data(t)), opts)
			if err != nil && !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("Parse: %v", err)
			}
			got := encodeGolden(toGolden(t, m, err))
			require.NoError(t, m.Cleanup())
			left, _ := os.ReadDir(spool)
			assert.Empty(t, left, "Cleanup must remove every spooled file")

			path := filepath.Join(corpusDir, c.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "no golden file; run with -update and review it")
			assert.Equal(t, string(want), string(got), "golden %s differs; if intended, run with -update and review the diff", path)
		})
	}
}

// TestCorpusReadme keeps README.md listing every corpus message.
func TestCorpusReadme(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(corpusDir, "README.md"))
	require.NoError(t, err)
	for _, c := range corpusCases(t) {
		assert.Contains(t, string(readme), fmt.Sprintf("`%s`", c.name), "README.md does not list %s", c.name)
	}
}

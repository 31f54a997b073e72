package mime

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Authentication-Results fields are kept with their place in the header,
// since only the receiving server's own, on top, may be believed; a
// sender's hundred forged ones cost a bounded amount.
func TestParseKeepsAuthenticationResultsWithTheirPlace(t *testing.T) {
	var b strings.Builder
	b.WriteString("Authentication-Results: mx.google.com; dmarc=fail header.from=customer.example\r\n")
	b.WriteString("Received: from mail.evil.example\r\n")
	for range 100 {
		b.WriteString("Authentication-Results: mx.google.com; dmarc=pass header.from=customer.example\r\n")
	}
	b.WriteString("From: Jane <jane@customer.example>\r\nSubject: hi\r\n\r\nbody\r\n")
	m, err := Parse(strings.NewReader(b.String()), ParseOptions{SpoolDir: t.TempDir()})
	require.NoError(t, err)
	defer m.Cleanup()
	require.Len(t, m.Header.AuthResults, maxAuthResults)
	assert.Equal(t, AuthResult{Value: "mx.google.com; dmarc=fail header.from=customer.example", Pos: 0}, m.Header.AuthResults[0])
	assert.Equal(t, 2, m.Header.AuthResults[1].Pos, "the Received field sits between")
}

// KeepRaw keeps the exact bytes for a DKIM check, and Cleanup removes
// them; nothing is kept of a message over the limit.
func TestParseKeepRaw(t *testing.T) {
	dir := t.TempDir()
	raw := "From: jane@customer.example\r\nSubject: hi\r\n\r\nline one\r\nline two\r\n"
	m, err := Parse(strings.NewReader(raw), ParseOptions{SpoolDir: dir, KeepRaw: true})
	require.NoError(t, err)
	rc, ok, err := m.OpenRaw()
	require.NoError(t, err)
	require.True(t, ok)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, raw, string(got))
	require.NoError(t, m.Cleanup())
	left, _ := os.ReadDir(dir)
	assert.Empty(t, left, "Cleanup removes the raw copy")

	big := raw + strings.Repeat("x", 2000)
	m, err = Parse(strings.NewReader(big), ParseOptions{SpoolDir: dir, KeepRaw: true, MaxMessageBytes: 1000})
	require.ErrorIs(t, err, ErrMessageTooLarge)
	_, ok, _ = m.OpenRaw()
	assert.False(t, ok)
	left, _ = os.ReadDir(dir)
	assert.Empty(t, left)

	m, err = Parse(strings.NewReader(raw), ParseOptions{SpoolDir: dir})
	require.NoError(t, err)
	_, ok, _ = m.OpenRaw()
	assert.False(t, ok, "not kept unless asked")
}

package slack

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request without a usable signature or with a stale timestamp is
// refused from its headers: 401 at once, connection closed, body unread.
func TestRefusedBeforeBody(t *testing.T) {
	const declared = 1 << 20
	fresh := strconv.FormatInt(testNow.Unix(), 10)
	wellFormed := "v0=" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, sig, ts, reason string
	}{
		{"no signature", "", fresh, RefusedMissingSignature},
		{"no timestamp", wellFormed, "", RefusedMissingSignature},
		{"neither", "", "", RefusedMissingSignature},
		{"not v0", "v1=" + strings.Repeat("ab", 32), fresh, RefusedMissingSignature},
		{"short", "v0=abcd", fresh, RefusedMissingSignature},
		{"not hex", "v0=" + strings.Repeat("zz", 32), fresh, RefusedMissingSignature},
		{"timestamp not a number", wellFormed, "soon", RefusedMissingSignature},
		{"six minutes old", wellFormed, strconv.FormatInt(testNow.Add(-6*time.Minute).Unix(), 10), RefusedStaleTimestamp},
		{"six minutes ahead", wellFormed, strconv.FormatInt(testNow.Add(6*time.Minute).Unix(), 10), RefusedStaleTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newInbound(t, func(c *InboundConfig) { c.Verifier.MaxBody = 2 << 20 })
			start := time.Now()
			c := s.raw(t, slackHead("/commands", declared, tc.sig, tc.ts), "text=first+bytes")
			resp, _, closed := rawAnswer(t, c, 2*time.Second)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.True(t, resp.Close, "answer says Connection: close")
			assert.True(t, closed, "connection closed")
			assert.Less(t, time.Since(start), time.Second, "answered without waiting for the body")
			assert.Equal(t, []string{tc.reason}, s.refused.list())
			assert.Zero(t, s.rec.total())
		})
	}
}

// Content-Length over MaxBody: 413 at once, body unread.
func TestTooLargeRefusedFromHeader(t *testing.T) {
	s := newInbound(t) // MaxBody 64 KiB
	ts := strconv.FormatInt(testNow.Unix(), 10)
	c := s.raw(t, slackHead("/events", 1<<20, "v0="+strings.Repeat("ab", 32), ts), "{")
	resp, _, closed := rawAnswer(t, c, 2*time.Second)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.True(t, closed)
	assert.Equal(t, []string{RefusedTooLarge}, s.refused.list())
}

// Beyond MaxUnverified bodies being read, a request gets 503 with
// Retry-After at once; the slots free up when those bodies are done.
func TestBusyBeyondUnverifiedCap(t *testing.T) {
	const slots = 3
	s := newInbound(t, func(c *InboundConfig) { c.MaxUnverified = slots })
	ts := strconv.FormatInt(testNow.Unix(), 10)
	body := string(commandForm())
	forged := "v0=" + strings.Repeat("ab", 32)

	// Each sends its headers and part of its body, then stalls.
	var holders []io.Writer
	for range slots {
		holders = append(holders, s.raw(t, slackHead("/commands", len(body), forged, ts), body[:10]))
	}
	require.Eventually(t, func() bool { return len(s.refused.list()) == 0 && busySlots(s) == slots },
		2*time.Second, 5*time.Millisecond, "the holders take every slot")

	start := time.Now()
	c := s.raw(t, slackHead("/commands", len(body), forged, ts), body[:10])
	resp, _, closed := rawAnswer(t, c, 2*time.Second)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.True(t, closed)
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, []string{RefusedBusy}, s.refused.list())

	// The holders finish; their forged signature fails, and the slots
	// are free for a signed request.
	for _, h := range holders {
		_, err := io.WriteString(h, body[10:])
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return busySlots(s) == 0 }, 2*time.Second, 5*time.Millisecond)
	assert.Equal(t, http.StatusOK, s.do(t, signed{path: "/commands", body: []byte(body)}).status)
	assert.ElementsMatch(t, []string{RefusedBusy, RefusedBadSignature, RefusedBadSignature, RefusedBadSignature}, s.refused.list())
}

// busySlots counts the unverified bodies being read; the handler behind s
// is the one newInbound built.
func busySlots(s *inboundServer) int { return len(s.handler.slots) }

// The reasons of refusals after the body is read.
func TestRefusalReasonsAfterBody(t *testing.T) {
	s := newInbound(t)
	assert.Equal(t, http.StatusUnauthorized, s.do(t, signed{path: "/commands", body: commandForm(), secret: "other"}).status)
	assert.Equal(t, http.StatusRequestEntityTooLarge,
		s.do(t, signed{path: "/commands", body: []byte(strings.Repeat("a", 64<<10+1)), chunked: true}).status)
	assert.Equal(t, http.StatusNotFound, s.do(t, signed{path: "/other", body: commandForm()}).status)
	assert.Equal(t, []string{RefusedBadSignature, RefusedTooLarge, RefusedNotFound}, s.refused.list())
	assert.NotContains(t, s.log.String(), testSecret)
	assert.NotContains(t, s.log.String(), "level=WARN", "refusals are the Refused hook's to report")
}

package slack

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestVerifier(t *testing.T) {
	body := []byte("token=x&team_id=T1&text=hello")
	ts := strconv.FormatInt(testNow.Unix(), 10)
	header := func(sig, ts string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set("X-Slack-Signature", sig)
		}
		if ts != "" {
			h.Set("X-Slack-Request-Timestamp", ts)
		}
		return h
	}
	at := func(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).Unix(), 10) }
	good := SignatureHeader(testSecret, ts, body)
	v := Verifier{Secret: testSecret, Now: func() time.Time { return testNow }}

	for _, tc := range []struct {
		name string
		v    Verifier
		h    http.Header
		body []byte
		want error
	}{
		{"valid", v, header(good, ts), body, nil},
		// Slack's own documented example.
		{"slack example", Verifier{Secret: testSecret, Now: func() time.Time { return time.Unix(1531420618, 0) }},
			header("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "1531420618"),
			[]byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"),
			nil},
		{"4m59s old", v, header(SignatureHeader(testSecret, at(-299*time.Second), body), at(-299*time.Second)), body, nil},
		{"wrong secret", v, header(SignatureHeader("other", ts, body), ts), body, ErrBadSignature},
		{"altered body", v, header(good, ts), append([]byte(nil), append(body, '!')...), ErrBadSignature},
		{"6m old", v, header(SignatureHeader(testSecret, at(-6*time.Minute), body), at(-6*time.Minute)), body, ErrStale},
		{"6m ahead", v, header(SignatureHeader(testSecret, at(6*time.Minute), body), at(6*time.Minute)), body, ErrStale},
		{"no signature", v, header("", ts), body, ErrMissingHeader},
		{"no timestamp", v, header(good, ""), body, ErrMissingHeader},
		{"timestamp not a number", v, header(good, "soon"), body, ErrBadSignature},
		{"not v0", v, header("v1="+strings.TrimPrefix(good, "v0="), ts), body, ErrBadSignature},
		{"not hex", v, header("v0=zz", ts), body, ErrBadSignature},
		{"truncated", v, header(good[:20], ts), body, ErrBadSignature},
		{"no secret configured", Verifier{Now: v.Now}, header(SignatureHeader("", ts, body), ts), body, ErrBadSignature},
		{"too large", Verifier{Secret: testSecret, Now: v.Now, MaxBody: 10}, header(good, ts), body, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.Verify(tc.h, tc.body)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
			for _, other := range []error{ErrBadSignature, ErrStale, ErrMissingHeader, ErrTooLarge} {
				if other != tc.want {
					assert.False(t, errors.Is(err, other), "also matches %v", other)
				}
			}
			assert.NotContains(t, err.Error(), testSecret)
			assert.NotContains(t, err.Error(), strings.TrimPrefix(good, "v0="))
		})
	}
}

func TestVerifierDefaults(t *testing.T) {
	v := Verifier{Secret: testSecret}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	body := []byte("{}")
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", now)
	h.Set("X-Slack-Signature", SignatureHeader(testSecret, now, body))
	assert.NoError(t, v.Verify(h, body), "real clock by default")
	assert.ErrorIs(t, v.Verify(h, make([]byte, DefaultMaxBody+1)), ErrTooLarge)
}

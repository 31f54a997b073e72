package senderauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zone answers TXT lookups from a map, as DNS would: a missing name is
// NXDOMAIN; a name mapped to nil fails as a server failure would.
type zone map[string][]string

func (z zone) lookup(_ context.Context, name string) ([]string, error) {
	txt, ok := z[name]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	if txt == nil {
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	return txt, nil
}

func signed(t *testing.T, domain, from string, key ed25519.PrivateKey, body string) []byte {
	t.Helper()
	raw := "From: " + from + "\r\nTo: support@example.com\r\nSubject: Re: order\r\nMessage-ID: <m1@" + domain + ">\r\n\r\n" + body
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(raw), &dkim.SignOptions{Domain: domain, Selector: "s1", Signer: key})
	require.NoError(t, err)
	return out.Bytes()
}

func TestCheckerVerifiesDKIMAndDMARC(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	keyRecord := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	dns := zone{
		"s1._domainkey.customer.example":      {keyRecord},
		"s1._domainkey.mail.customer.example": {keyRecord},
		"s1._domainkey.evil.example":          {keyRecord},
		"_dmarc.customer.example":             {"v=DMARC1; p=reject"},
		"_dmarc.strict.example":               {"v=DMARC1; p=reject; adkim=s"},
		"s1._domainkey.sub.strict.example":    {keyRecord},
		"_dmarc.broken.example":               nil,
	}
	c := NewChecker(CheckerConfig{LookupTXT: dns.lookup})
	plain := func(from string) []byte {
		return []byte("From: " + from + "\r\nSubject: hi\r\n\r\nbody\r\n")
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		from string
		want Verdict
	}{
		{"an aligned signature passes", signed(t, "customer.example", "jane@customer.example", key, "Thanks!\r\n"), "customer.example", Pass},
		{"a subdomain's signature aligns (relaxed)", signed(t, "mail.customer.example", "jane@customer.example", key, "Thanks!\r\n"), "customer.example", Pass},
		{"strict alignment wants the same domain", signed(t, "sub.strict.example", "jane@strict.example", key, "x\r\n"), "strict.example", Fail},
		{"no signature under a DMARC policy fails", plain("jane@customer.example"), "customer.example", Fail},
		{"another domain's signature under a DMARC policy fails", signed(t, "evil.example", "jane@customer.example", key, "x\r\n"), "customer.example", Fail},
		{"a body changed after signing fails", bytes.Replace(signed(t, "customer.example", "jane@customer.example", key, "Pay 10 EUR\r\n"), []byte("10"), []byte("99"), 1), "customer.example", Fail},
		{"no signature and no policy says nothing", plain("joe@small.example"), "small.example", None},
		{"a DNS failure says nothing", plain("joe@broken.example"), "broken.example", None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Check(context.Background(), bytes.NewReader(tc.raw), tc.from)
			assert.Equal(t, tc.want, got.Verdict, got.Reason)
		})
	}
}

func TestCheckerStopsAtItsTimeout(t *testing.T) {
	slow := func(ctx context.Context, name string) ([]string, error) {
		<-ctx.Done()
		return nil, errors.Join(ctx.Err(), &net.DNSError{Err: "timeout", Name: name, IsTimeout: true})
	}
	c := NewChecker(CheckerConfig{LookupTXT: slow, Timeout: 50 * time.Millisecond})
	got := c.Check(context.Background(), strings.NewReader("From: a@customer.example\r\n\r\nx"), "customer.example")
	assert.Equal(t, None, got.Verdict, got.Reason)
}

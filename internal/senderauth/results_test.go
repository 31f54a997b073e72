package senderauth

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Authentication-Results fields as the receiving servers write them.
const (
	gmailPass = `mx.google.com;
       dkim=pass header.i=@customer.example header.s=s1 header.b=AbCdEf12;
       spf=pass (google.com: domain of jane@customer.example designates 203.0.113.5 as permitted sender) smtp.mailfrom=jane@customer.example;
       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=customer.example`
	gmailFail = `mx.google.com;
       spf=softfail (google.com: domain of transitioning mallory@evil.example does not designate 198.51.100.9 as permitted sender) smtp.mailfrom=mallory@evil.example;
       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=customer.example`
	gmailNoPolicy = `mx.google.com;
       spf=pass (google.com: domain of mallory@evil.example designates 198.51.100.9 as permitted sender) smtp.mailfrom=mallory@evil.example`
	microsoftPass = `spf=pass (sender IP is 203.0.113.5)
 smtp.mailfrom=customer.example; dkim=pass (signature was verified)
 header.d=customer.example;dmarc=pass action=none
 header.from=customer.example;compauth=pass reason=100`
	microsoftFail = `spf=fail (sender IP is 198.51.100.9)
 smtp.mailfrom=evil.example; dkim=none (message not signed)
 header.d=none;dmarc=fail action=quarantine
 header.from=customer.example;compauth=fail reason=000`
	microsoftNoDMARC = `spf=softfail (sender IP is 198.51.100.9)
 smtp.mailfrom=evil.example; dkim=none (message not signed)
 header.d=none;dmarc=none action=none header.from=small.example;compauth=fail
 reason=001`
	postfixDKIM  = `mail.support.example; dkim=pass (2048-bit key; unprotected) header.d=customer.example header.i=@customer.example header.b="AbC/12+x"`
	postfixDMARC = `mail.support.example; dmarc=pass (p=none dis=none) header.from=customer.example`
	postfixFail  = `mail.support.example; dmarc=fail (p=reject dis=none) header.from=customer.example`
)

func fields(values ...string) []Field {
	out := make([]Field, len(values))
	for i, v := range values {
		out[i] = Field{Value: v, Pos: i * 3} // other header fields between them
	}
	return out
}

func TestFromHeaders(t *testing.T) {
	google := []string{"mx.google.com"}
	for _, tc := range []struct {
		name    string
		fields  []Field
		trusted []string
		from    string
		want    Verdict
		reason  string
	}{
		{"Gmail: DMARC pass", fields(gmailPass), google, "customer.example", Pass, "dmarc=pass (mx.google.com)"},
		{"Gmail: DMARC fail", fields(gmailFail), google, "customer.example", Fail, "dmarc=fail"},
		{"Gmail: no policy, SPF of another domain proves nothing", fields(gmailNoPolicy), google, "customer.example", None, ""},
		{"Gmail fields are not believed unless trusted", fields(gmailPass), []string{"mail.support.example"}, "customer.example", None, "no Authentication-Results from a trusted server"},
		{"a forged pass below the server's own fail is ignored",
			fields(gmailFail, gmailPass), google, "customer.example", Fail, "dmarc=fail"},
		{"a forged pass below the server's silence is ignored",
			fields(gmailNoPolicy, gmailPass), google, "customer.example", None, ""},
		{"a forged field of the trusted id is all there is when the server added none",
			nil, google, "customer.example", None, ""},
		{"Microsoft 365: pass without an authserv-id", fields(microsoftPass), []string{MicrosoftID}, "customer.example", Pass, "dmarc=pass (microsoft365)"},
		{"Microsoft 365: fail", fields(microsoftFail), []string{MicrosoftID}, "customer.example", Fail, "dmarc=fail (microsoft365)"},
		{"Microsoft 365: no DMARC, composite authentication fails", fields(microsoftNoDMARC), []string{MicrosoftID}, "small.example", Fail, "compauth=fail"},
		{"Microsoft 365 results are not believed without microsoft365", fields(microsoftPass), google, "customer.example", None, ""},
		{"Postfix: OpenDMARC and OpenDKIM fields directly above each other",
			[]Field{{postfixDMARC, 0}, {postfixDKIM, 1}}, []string{"mail.support.example"}, "customer.example", Pass, "dmarc=pass"},
		{"Postfix: the DKIM field alone, aligned",
			[]Field{{postfixDKIM, 0}}, []string{"mail.support.example"}, "customer.example", Pass, "dkim=pass header.d=customer.example"},
		{"Postfix: a forged pass further down is not merged",
			[]Field{{postfixFail, 0}, {postfixDMARC, 7}}, []string{"Mail.Support.Example"}, "customer.example", Fail, "dmarc=fail"},
		{"a subdomain's DKIM aligns with the organization",
			fields("mx.google.com; dkim=pass header.d=mail.customer.example"), google, "customer.example", Pass, ""},
		{"a DKIM pass of another domain does not align",
			fields("mx.google.com; dkim=pass header.d=evil.example; spf=fail smtp.mailfrom=evil.example"), google, "customer.example", None, ""},
		{"SPF and DKIM both fail without DMARC",
			fields("mx.google.com; dkim=fail header.d=customer.example; spf=fail smtp.mailfrom=customer.example"), google, "customer.example", Fail, "spf=fail and no DKIM pass"},
		{"an aligned SPF pass without DMARC",
			fields("mx.google.com; spf=pass smtp.mailfrom=bounce@customer.example"), google, "customer.example", Pass, "spf=pass"},
		{"public suffixes do not align",
			fields("mx.google.com; dkim=pass header.d=evil.co.uk"), google, "customer.co.uk", None, ""},
		{"a comment quoting the sender cannot add a result",
			fields(`mx.google.com; spf=fail (google.com: domain of "x;dmarc=pass"@evil.example does not designate) smtp.mailfrom="x;dmarc=pass"@evil.example; dmarc=none header.from=customer.example`),
			google, "customer.example", Fail, "spf=fail"},
		{"a quoted value with a semicolon stays one value",
			fields(`mx.google.com; dkim=pass header.d=customer.example header.b="a;dmarc=fail"`), google, "customer.example", Pass, "dkim=pass"},
		{"a DMARC pass for another From domain is not this mail's",
			fields("mx.google.com; dmarc=pass header.from=evil.example"), google, "customer.example", None, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromHeaders(tc.fields, tc.trusted, tc.from)
			assert.Equal(t, tc.want, got.Verdict, "reason: %s", got.Reason)
			assert.True(t, strings.Contains(got.Reason, tc.reason), "reason %q lacks %q", got.Reason, tc.reason)
		})
	}
}

func TestParseFieldIsLenient(t *testing.T) {
	for _, v := range []string{"", ";;;", "x", "x; =", "x; dkim", `x; dkim="unterminated`, "(((", `x; spf=pass ("a\)b") smtp.mailfrom=a@b`} {
		f := parseField(v) // must not panic, and never invents a pass
		for _, m := range f.methods {
			assert.NotEqual(t, "dmarc", m.name, "%q", v)
		}
	}
}

package senderauth

import (
	"strings"
	"testing"
)

// FuzzFromHeaders feeds arbitrary Authentication-Results values, as a
// sender can put any text in a field of its own: the reading must never
// panic and never find a pass that no "pass" in the input gave.
func FuzzFromHeaders(f *testing.F) {
	for _, seed := range []string{gmailPass, gmailFail, gmailNoPolicy, microsoftPass, microsoftFail, microsoftNoDMARC,
		postfixDKIM, postfixDMARC, postfixFail, `x; spf=pass ("a\)b") smtp.mailfrom="q;dmarc=pass"@b`, "((", `"`, ";"} {
		f.Add(seed, "customer.example")
	}
	f.Fuzz(func(t *testing.T, value, from string) {
		trusted := []string{"mx.google.com", "mail.support.example", MicrosoftID, strings.Fields(value + " x")[0]}
		got := FromHeaders([]Field{{Value: value}, {Value: value, Pos: 1}}, trusted, from)
		switch got.Verdict {
		case Pass:
			if !strings.Contains(strings.ToLower(value), "pass") {
				t.Fatalf("pass from %q", value)
			}
		case Fail, None:
		default:
			t.Fatalf("verdict %q", got.Verdict)
		}
	})
}

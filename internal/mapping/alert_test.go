package mapping

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestQuarantineAlert(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   QuarantinedMail
		want []string
		not  []string
	}{
		{
			name: "moved to the failed folder",
			in:   QuarantinedMail{From: "ann@example.com", Subject: "Invoice", Reason: "422 subject invalid", Folder: "Failed", Mailbox: "INBOX"},
			want: []string{"From ann@example.com", "“Invoice”", "Reason: 422 subject invalid.", "in the folder *Failed*"},
		},
		{
			name: "flagged in place",
			in:   QuarantinedMail{From: "ann@example.com", Subject: "x", Reason: "r", Mailbox: "Support"},
			want: []string{"stays in *Support*, flagged as read"},
		},
		{
			name: "unreadable mail names no one",
			in:   QuarantinedMail{Reason: "malformed header", Mailbox: "INBOX"},
			want: []string{"From an unknown sender", "“(no subject)”"},
		},
		{
			name: "a hostile subject cannot mention or link",
			in:   QuarantinedMail{From: "x@example.com", Subject: "<!channel> <https://evil.example|click>", Reason: "r", Mailbox: "INBOX"},
			want: []string{"&lt;!channel&gt;"},
			not:  []string{"<!channel>", "<https://"},
		},
		{
			name: "a long subject is cut",
			in:   QuarantinedMail{From: "x@example.com", Subject: strings.Repeat("a", 5000), Reason: "r", Mailbox: "INBOX"},
			not:  []string{strings.Repeat("a", 201)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := QuarantineAlert(tc.in)
			for _, w := range tc.want {
				assert.Contains(t, got, w)
			}
			for _, n := range tc.not {
				assert.NotContains(t, got, n)
			}
		})
	}
}

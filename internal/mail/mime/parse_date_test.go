package mime

import (
	netmail "net/mail"
	"testing"
)

// The fast layout must give what net/mail gives, and leave every other
// form to it.
func TestParseDateAgreesWithNetMail(t *testing.T) {
	for _, raw := range []string{
		"Mon, 15 Jan 2024 09:30:00 +0000",
		"Tue, 2 Jan 2024 09:30:00 +0100",
		"Tue,  2 Jan 2024 09:30:00 -0500",
		" Wed, 03 Jan 2024 23:59:59 +0530 ",
		"Mon, 15 Jan 2024 09:30:00 +0000 (UTC)",
		"15 Jan 2024 09:30:00 +0000",
		"Mon, 15 Jan 2024 09:30 +0000",
		"Mon, 15 Jan 2024 09:30:00 GMT",
		"Mon, 15 Jan 24 09:30:00 +0000",
		"yesterday",
		"",
	} {
		want, wantErr := netmail.ParseDate(raw)
		got, err := parseDate(raw)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%q: error %v, net/mail says %v", raw, err, wantErr)
			continue
		}
		if !got.Equal(want) {
			t.Errorf("%q: %v, net/mail says %v", raw, got, want)
		}
	}
}

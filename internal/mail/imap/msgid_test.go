package imap

import "testing"

func TestHeaderMessageID(t *testing.T) {
	for raw, want := range map[string]string{
		"Message-ID: <a1@example.net>\r\n\r\n":                "a1@example.net",
		"Message-Id:\r\n <folded@example.net>\r\n\r\n":        "folded@example.net",
		"message-id: <lower@example.net> (a comment)\r\n\r\n": "lower@example.net",
		"Message-ID: <first@x> <second@x>\r\n\r\n":            "first@x",
		"\r\n": "",
		"":     "",
		"Message-ID: no-brackets@example.net\r\n\r\n":   "",
		"Message-ID: <unterminated@example.net\r\n\r\n": "",
		"Subject: no id here\r\n\r\n":                   "",
	} {
		if got := headerMessageID([]byte(raw)); got != want {
			t.Errorf("headerMessageID(%q) = %q, want %q", raw, got, want)
		}
	}
}

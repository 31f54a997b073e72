package state

import (
	"fmt"
	"strings"
	"time"
)

// NormalizeMessageID is the form Message-IDs are stored under: surrounding
// space and one pair of angle brackets removed, case kept (the local part is
// case-sensitive in principle, and we only ever compare ids we saw verbatim).
// Callers may pass either spelling to the store; this is exported so that
// other packages can compare ids the same way.
func NormalizeMessageID(id string) string {
	n, _ := normalizeMessageID(id)
	return n
}

// NormalizeEmail is the form sender addresses are stored under: trimmed, one
// pair of angle brackets removed, lowercased. Lowercasing the local part is
// technically lossy, but every real mail system treats it case-insensitively
// and a customer writing from John@ and john@ is one customer.
func NormalizeEmail(email string) string {
	n, _ := normalizeEmail(email)
	return n
}

func normalizeMessageID(id string) (string, error) {
	n := strings.TrimSpace(id)
	if strings.HasPrefix(n, "<") && strings.HasSuffix(n, ">") {
		n = strings.TrimSpace(n[1 : len(n)-1])
	}
	if n == "" {
		return "", fmt.Errorf("empty message id %q: %w", id, ErrInvalid)
	}
	return n, nil
}

func normalizeEmail(email string) (string, error) {
	n := strings.TrimSpace(email)
	if strings.HasPrefix(n, "<") && strings.HasSuffix(n, ">") {
		n = strings.TrimSpace(n[1 : len(n)-1])
	}
	if n == "" {
		return "", fmt.Errorf("empty email %q: %w", email, ErrInvalid)
	}
	return strings.ToLower(n), nil
}

// normalizeMailbox folds INBOX, the one mailbox name RFC 3501 makes
// case-insensitive; every other name is kept as the server spells it.
func normalizeMailbox(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty mailbox name: %w", ErrInvalid)
	}
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", nil
	}
	return name, nil
}

// timeKeyLayout is fixed-width UTC, so byte order equals time order for
// years 0000-9999 and keys stay readable in a dump.
const timeKeyLayout = "2006-01-02T15:04:05.000000000Z"

func timeKey(t time.Time) string { return t.UTC().Format(timeKeyLayout) }

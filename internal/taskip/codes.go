package taskip

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Status is a ticket status code. The API sends it as an integer in
// some responses and as a name in others; both decode to the same value so a
// change of representation is never mistaken for a change of status.
type Status int

// Ticket statuses as numbered by the API.
const (
	StatusOpen       Status = 0
	StatusInProgress Status = 1
	StatusResolved   Status = 2
	StatusClosed     Status = 3
	StatusPending    Status = 4
	// StatusUnknown is what a name the client does not know decodes to; a new
	// server-side status must not make a whole ticket list undecodable.
	StatusUnknown Status = -1
)

// Priority is a ticket priority code, decoded like Status.
type Priority int

// Ticket priorities as numbered by the API.
const (
	PriorityLow     Priority = 0
	PriorityNormal  Priority = 1
	PriorityMedium  Priority = 2
	PriorityHigh    Priority = 3
	PriorityUrgent  Priority = 4
	PriorityUnknown Priority = -1
)

// statusCodesCount is the number of documented codes, for status and priority alike.
const statusCodesCount = 5

var statusNames = [statusCodesCount]string{"open", "in_progress", "resolved", "closed", "pending"}
var priorityNames = [statusCodesCount]string{"low", "normal", "medium", "high", "urgent"}

// StatusNames lists the status names in code order, for help texts.
func StatusNames() []string { return append([]string(nil), statusNames[:]...) }

// PriorityNames lists the priority names in code order, for help texts.
func PriorityNames() []string { return append([]string(nil), priorityNames[:]...) }

// String returns the API name ("in_progress"), or the number for a code the
// client does not know.
func (s Status) String() string {
	if s >= 0 && int(s) < statusCodesCount {
		return statusNames[s]
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

// Label is the human form used in tables and Slack ("In Progress").
func (s Status) Label() string { return label(s.String()) }

// Valid reports whether s is one of the documented codes.
func (s Status) Valid() bool { return s >= 0 && int(s) < statusCodesCount }

func (p Priority) String() string {
	if p >= 0 && int(p) < statusCodesCount {
		return priorityNames[p]
	}
	return "unknown(" + strconv.Itoa(int(p)) + ")"
}

// Label is the human form used in tables and Slack ("Urgent").
func (p Priority) Label() string { return label(p.String()) }

// Valid reports whether p is one of the documented codes.
func (p Priority) Valid() bool { return p >= 0 && int(p) < statusCodesCount }

func label(name string) string {
	words := strings.Split(name, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// normalizeName folds "In Progress", "in-progress" and "IN_PROGRESS" into the
// API's snake case.
func normalizeName(s string) string {
	return nameFolder.Replace(strings.ToLower(strings.TrimSpace(s)))
}

func lookupCode(names *[statusCodesCount]string, s string) (int, bool) {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return n, n >= 0 && n < statusCodesCount
	}
	s = normalizeName(s)
	for i, name := range names {
		if name == s {
			return i, true
		}
	}
	return -1, false
}

// ParseStatus accepts a name in any case with _, - or space, or a number.
func ParseStatus(s string) (Status, error) {
	n, ok := lookupCode(&statusNames, s)
	if !ok {
		return StatusUnknown, fmt.Errorf("unknown status %q (want one of %s or 0-4)", s, strings.Join(statusNames[:], ", "))
	}
	return Status(n), nil
}

// ParsePriority accepts a name in any case with _, - or space, or a number.
func ParsePriority(s string) (Priority, error) {
	n, ok := lookupCode(&priorityNames, s)
	if !ok {
		return PriorityUnknown, fmt.Errorf("unknown priority %q (want one of %s or 0-4)", s, strings.Join(priorityNames[:], ", "))
	}
	return Priority(n), nil
}

// decodeCode reads an integer, a numeric string or a name. Unknown names and
// out-of-range numbers are kept (as -1 or the number) rather than failing the
// whole response.
func decodeCode(names *[statusCodesCount]string, data []byte) (int, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return 0, nil
	}
	if data[0] != '"' {
		n, err := strconv.Atoi(string(data))
		if err != nil {
			return 0, fmt.Errorf("code %s: not a number or name", data)
		}
		return n, nil
	}
	raw := unquoteFast(data)
	if raw == nil {
		s, err := strconv.Unquote(string(data))
		if err != nil {
			return 0, fmt.Errorf("code %s: %w", data, err)
		}
		raw = []byte(s)
	}
	if len(raw) == 0 {
		return 0, nil
	}
	// The API's own spelling is by far the common case: match it without
	// allocating before trying the forgiving forms.
	for i, name := range names {
		if string(raw) == name {
			return i, nil
		}
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
		return n, nil
	}
	n, _ := lookupCode(names, string(raw))
	return n, nil
}

// unquoteFast returns the contents of a JSON string without escapes, or nil
// when it has escapes and needs the full unquote.
func unquoteFast(data []byte) []byte {
	if len(data) < 2 || data[len(data)-1] != '"' || bytes.IndexByte(data, '\\') >= 0 {
		return nil
	}
	return data[1 : len(data)-1]
}

var nameFolder = strings.NewReplacer("-", "_", " ", "_")

// UnmarshalJSONFrom implements lenient decoding: a name or an integer.
func (s *Status) UnmarshalJSONFrom(d *jsontext.Decoder) error { return readRaw(d, s.UnmarshalJSON) }

// UnmarshalJSONFrom implements lenient decoding: a name or an integer.
func (p *Priority) UnmarshalJSONFrom(d *jsontext.Decoder) error { return readRaw(d, p.UnmarshalJSON) }

// UnmarshalJSONFrom accepts 12, "12" and null.
func (id *ID) UnmarshalJSONFrom(d *jsontext.Decoder) error { return readRaw(d, id.UnmarshalJSON) }

// readRaw hands the next value's bytes to a v1-style decoder; the custom
// types are leaves, so this costs no second scan of the document.
func readRaw(d *jsontext.Decoder, decode func([]byte) error) error {
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	return decode(v)
}

// UnmarshalJSON implements lenient decoding: a name or an integer.
func (s *Status) UnmarshalJSON(data []byte) error {
	n, err := decodeCode(&statusNames, data)
	*s = Status(n)
	return err
}

// UnmarshalJSON implements lenient decoding: a name or an integer.
func (p *Priority) UnmarshalJSON(data []byte) error {
	n, err := decodeCode(&priorityNames, data)
	*p = Priority(n)
	return err
}

// ID is a numeric identifier the API sends as a number or a numeric string.
type ID int64

// UnmarshalJSON accepts 12, "12" and null.
func (id *ID) UnmarshalJSON(data []byte) error {
	if len(data) == 0 || string(data) == "null" {
		*id = 0
		return nil
	}
	if data[0] == '"' {
		data = data[1 : len(data)-1]
		if len(data) == 0 {
			*id = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return fmt.Errorf("id %q: not a number", data)
	}
	*id = ID(n)
	return nil
}

func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

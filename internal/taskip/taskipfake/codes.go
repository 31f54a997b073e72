package taskipfake

import (
	"encoding/json"
	"strconv"
	"strings"
)

// CodeStyle chooses how status and priority codes are written in responses.
// The real API is inconsistent (integers in the support-ticket family, names
// in the /ticket family and the schema section), so clients must accept both;
// the fake can be told to emit either to prove that they do.
type CodeStyle int

const (
	// Ints emits codes as integers: "status": 1.
	Ints CodeStyle = iota
	// Names emits codes as names: "status": "in_progress".
	Names
	// Alternate flips between Ints and Names on every request answered by an
	// endpoint (the first uses Ints), so one test run exercises both.
	Alternate
)

// Status codes.
const (
	StatusOpen       = 0
	StatusInProgress = 1
	StatusResolved   = 2
	StatusClosed     = 3
	StatusPending    = 4
)

// Priority codes.
const (
	PriorityLow    = 0
	PriorityNormal = 1
	PriorityMedium = 2
	PriorityHigh   = 3
	PriorityUrgent = 4
)

var (
	statusNames   = []string{"open", "in_progress", "resolved", "closed", "pending"}
	priorityNames = []string{"low", "normal", "medium", "high", "urgent"}
)

// StatusName returns the wire name of a status code, or "" when out of range.
func StatusName(code int) string { return codeName(statusNames, code) }

// PriorityName returns the wire name of a priority code, or "" when out of range.
func PriorityName(code int) string { return codeName(priorityNames, code) }

func codeName(names []string, code int) string {
	if code < 0 || code >= len(names) {
		return ""
	}
	return names[code]
}

var codeSeparators = strings.NewReplacer("-", "_", " ", "_")

// parseCodeString accepts "1", "in_progress", "In Progress", "in-progress".
func parseCodeString(names []string, s string) (int, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 0 && n < len(names)
	}
	norm := codeSeparators.Replace(strings.ToLower(s))
	for i, name := range names {
		if name == norm {
			return i, true
		}
	}
	return 0, false
}

// parseCodeJSON accepts a JSON integer or any string parseCodeString accepts.
func parseCodeJSON(names []string, raw json.RawMessage) (int, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return parseCodeString(names, s)
	}
	n, ok := jsonInt(raw)
	if !ok {
		return 0, false
	}
	return n, n >= 0 && n < len(names)
}

// jsonInt reads an integral JSON number or a numeric string; 2.0 is
// accepted, 2.5 is not.
func jsonInt(raw json.RawMessage) (int, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil
	}
	var f json.Number
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, false
	}
	if n, err := f.Int64(); err == nil {
		return int(n), true
	}
	v, err := f.Float64()
	if err != nil || v != float64(int64(v)) {
		return 0, false
	}
	return int(v), true
}

func emitCode(style CodeStyle, names []string, code int) any {
	if style == Names {
		return codeName(names, code)
	}
	return code
}

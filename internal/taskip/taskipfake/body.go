package taskipfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

const maxJSONBody = 1 << 20

// body is a decoded JSON object; fields are read lazily so that each field
// can accept the loose forms the API allows (ids as numbers or numeric
// strings, codes as numbers or names).
type body map[string]json.RawMessage

// readBody decodes the request as a JSON object. An empty body is {} so
// that missing required fields are reported as 422, not 400.
func (c *call) readBody() (body, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, c.r.Body, maxJSONBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, msg: "Request body too large"}
		}
		return nil, errBadRequest("Could not read request body")
	}
	b := body{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	if err := json.Unmarshal(raw, &b); err != nil || b == nil {
		return nil, errBadRequest("Malformed JSON body")
	}
	return b, nil
}

// has reports a present, non-null field; null is treated as absent.
func (b body) has(k string) bool {
	raw, ok := b[k]
	return ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// validation collects Laravel-style per-field messages.
type validation map[string][]string

func (v validation) add(field, msg string) { v[field] = append(v[field], msg) }

func (v validation) err() error {
	if len(v) == 0 {
		return nil
	}
	return errInvalid(v)
}

func human(field string) string { return strings.ReplaceAll(field, "_", " ") }

func (v validation) required(field string) {
	v.add(field, "The "+human(field)+" field is required.")
}

func (v validation) invalid(field string) {
	v.add(field, "The selected "+human(field)+" is invalid.")
}

func (b body) str(v validation, k string) (string, bool) {
	if !b.has(k) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(b[k], &s); err != nil {
		v.add(k, "The "+human(k)+" must be a string.")
		return "", false
	}
	return s, true
}

func (b body) integer(v validation, k string) (int, bool) {
	if !b.has(k) {
		return 0, false
	}
	n, ok := jsonInt(b[k])
	if !ok {
		v.add(k, "The "+human(k)+" must be an integer.")
	}
	return n, ok
}

func (b body) code(v validation, k string, names []string) (int, bool) {
	if !b.has(k) {
		return 0, false
	}
	n, ok := parseCodeJSON(names, b[k])
	if !ok {
		v.invalid(k)
	}
	return n, ok
}

func (b body) boolean(v validation, k string) (bool, bool) {
	if !b.has(k) {
		return false, false
	}
	var t bool
	if err := json.Unmarshal(b[k], &t); err == nil {
		return t, true
	}
	if n, ok := jsonInt(b[k]); ok && (n == 0 || n == 1) {
		return n == 1, true
	}
	var s string
	if err := json.Unmarshal(b[k], &s); err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1":
			return true, true
		case "false", "0":
			return false, true
		}
	}
	v.add(k, "The "+human(k)+" field must be true or false.")
	return false, false
}

func (b body) object(v validation, k string) (body, bool) {
	if !b.has(k) {
		return body{}, false
	}
	var o body
	if err := json.Unmarshal(b[k], &o); err != nil || o == nil {
		v.add(k, "The "+human(k)+" must be an object.")
		return body{}, false
	}
	return o, true
}

func (b body) list(v validation, k string) ([]json.RawMessage, bool) {
	if !b.has(k) {
		return nil, false
	}
	var l []json.RawMessage
	if err := json.Unmarshal(b[k], &l); err != nil {
		v.add(k, "The "+human(k)+" must be an array.")
		return nil, false
	}
	return l, true
}

func (b body) intList(v validation, k string) ([]int, bool) {
	raw, ok := b.list(v, k)
	if !ok {
		return nil, false
	}
	out := make([]int, 0, len(raw))
	for _, r := range raw {
		n, ok := jsonInt(r)
		if !ok {
			v.add(k, "The "+human(k)+" must contain integers.")
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func (b body) strList(v validation, k string) ([]string, bool) {
	raw, ok := b.list(v, k)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			v.add(k, "The "+human(k)+" must contain strings.")
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

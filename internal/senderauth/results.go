// Package senderauth decides whether a mail's From can be believed: from the
// Authentication-Results header fields (RFC 8601) that a trusted receiving
// server added, or by checking DKIM signatures and DMARC alignment itself.
// A From line proves nothing by itself; the verdict is what lets a mail
// write to a ticket as the customer or an agent it names.
package senderauth

import (
	"strings"
)

// Verdict is what is known about a mail's sender.
type Verdict string

const (
	// Pass: the From domain is authenticated (DMARC, or a DKIM or SPF
	// pass aligned with it).
	Pass Verdict = "pass"
	// Fail: the From domain fails DMARC, or without a DMARC result both
	// SPF and DKIM fail; the From line is likely forged.
	Fail Verdict = "fail"
	// None: nothing trusted says either way.
	None Verdict = "none"
)

// Result is a verdict and what decided it, e.g. "dmarc=fail
// (mx.google.com)", for notes and logs.
type Result struct {
	Verdict Verdict
	Reason  string
}

// MicrosoftID in the trusted list stands for Microsoft 365, which writes its
// Authentication-Results without an authserv-id.
const MicrosoftID = "microsoft365"

// method is one resinfo of an Authentication-Results field: a method, its
// result and its properties (ptype.property=value, lower-cased keys).
type method struct {
	name   string
	result string
	props  map[string]string
}

// field is one parsed Authentication-Results header field.
type field struct {
	authserv string // lower-cased; "" when the field names none
	methods  []method
}

// parseField reads one Authentication-Results value. Comments are removed
// first, quoted strings respected: a comment may quote an address the
// sender chose, and a ';' or "dmarc=pass" in it must not become a result.
// It is lenient: what it cannot read is left out, never guessed.
func parseField(v string) field {
	parts := splitOutsideQuotes(stripComments(v), ';')
	var f field
	if len(parts) == 0 {
		return f
	}
	first := strings.TrimSpace(parts[0])
	rest := parts[1:]
	if strings.Contains(first, "=") {
		// No authserv-id (Microsoft 365): the first part is a result.
		rest = parts
	} else if fs := strings.Fields(first); len(fs) > 0 {
		f.authserv = strings.ToLower(fs[0]) // an optional version follows
	}
	for _, p := range rest {
		toks := splitOutsideQuotes(strings.TrimSpace(p), ' ', '\t', '\r', '\n')
		if len(toks) == 0 {
			continue
		}
		name, result, ok := strings.Cut(toks[0], "=")
		if !ok || name == "" {
			continue
		}
		m := method{name: strings.ToLower(strings.TrimSpace(name)), result: strings.ToLower(unquote(result)), props: map[string]string{}}
		if i := strings.IndexByte(m.name, '/'); i >= 0 {
			m.name = m.name[:i] // method version, e.g. dkim/1
		}
		for _, t := range toks[1:] {
			k, val, ok := strings.Cut(t, "=")
			if !ok {
				continue
			}
			k = strings.ToLower(strings.TrimSpace(k))
			if _, dup := m.props[k]; !dup {
				m.props[k] = unquote(val)
			}
		}
		f.methods = append(f.methods, m)
	}
	return f
}

// stripComments removes RFC 5322 comments, nested ones included, outside
// quoted strings.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
			if depth == 0 {
				b.WriteByte(c)
			}
			continue
		case c == '\\' && (quoted || depth > 0):
			escaped = true
			if depth == 0 {
				b.WriteByte(c)
			}
			continue
		case quoted:
			if c == '"' {
				quoted = false
			}
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
			continue
		case c == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitOutsideQuotes splits at any of seps that is not inside a quoted
// string, dropping empty pieces.
func splitOutsideQuotes(s string, seps ...byte) []string {
	var out []string
	start, quoted, escaped := 0, false, false
	flush := func(end int) {
		if p := strings.TrimSpace(s[start:end]); p != "" {
			out = append(out, p)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && strings.IndexByte(string(seps), c) >= 0:
			flush(i)
			start = i + 1
		}
	}
	flush(len(s))
	return out
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`)
	}
	return v
}

// Field is one Authentication-Results header field: its raw value and its
// position in the mail's header (0 is the topmost field of any name).
type Field struct {
	Value string
	Pos   int
}

// FromHeaders decides from a mail's Authentication-Results fields (in
// header order, topmost first) which of them a trusted server wrote, and
// what they say about fromDomain.
//
// The receiving server adds its fields at the top of the header, above
// the mail's own, where a sender's forged field with the same authserv-id
// sits lower down. So only the topmost field of a trusted id counts,
// together with the fields of the same id directly below it (Postfix with
// OpenDKIM and OpenDMARC writes one field each); a field further down is
// ignored, whatever it claims.
func FromHeaders(fields []Field, trusted []string, fromDomain string) Result {
	want := map[string]bool{}
	for _, t := range trusted {
		want[strings.ToLower(strings.TrimSpace(t))] = true
	}
	for i, raw := range fields {
		f := parseField(raw.Value)
		id := f.id()
		if !want[id] {
			continue
		}
		pos := raw.Pos
		for _, next := range fields[i+1:] {
			if next.Pos != pos+1 {
				break
			}
			nf := parseField(next.Value)
			if nf.id() != id {
				break
			}
			f.methods = append(f.methods, nf.methods...)
			pos = next.Pos
		}
		return f.verdict(fromDomain, id)
	}
	return Result{Verdict: None, Reason: "no Authentication-Results from a trusted server"}
}

// id is the field's authserv-id, MicrosoftID for one without.
func (f field) id() string {
	if f.authserv == "" {
		return MicrosoftID
	}
	return f.authserv
}

// verdict applies DMARC's rule to one server's results: a DMARC result
// decides; Microsoft's composite authentication stands in when there is
// none; otherwise a DKIM or SPF pass aligned with the From domain passes,
// and failing both SPF and DKIM fails.
func (f field) verdict(fromDomain, id string) Result {
	by := func(what string) string { return what + " (" + id + ")" }
	var spfFailed, dkimPassed, dmarcPassed bool
	var compauth string
	for _, m := range f.methods {
		switch m.name {
		case "dmarc":
			switch m.result {
			case "pass":
				from := m.props["header.from"]
				dmarcPassed = dmarcPassed || from == "" || aligned(from, fromDomain)
			case "fail":
				return Result{Fail, by("dmarc=fail")}
			}
		case "compauth":
			compauth = m.result
		}
	}
	if dmarcPassed {
		return Result{Pass, by("dmarc=pass")}
	}
	switch compauth {
	case "pass":
		return Result{Pass, by("compauth=pass")}
	case "fail":
		return Result{Fail, by("compauth=fail")}
	}
	for _, m := range f.methods {
		switch m.name {
		case "dkim":
			if m.result != "pass" {
				continue
			}
			dkimPassed = true
			d := m.props["header.d"]
			if d == "" {
				d = domainOf(m.props["header.i"])
			}
			if aligned(d, fromDomain) {
				return Result{Pass, by("dkim=pass header.d=" + d)}
			}
		case "spf":
			switch m.result {
			case "pass":
				if d := domainOf(m.props["smtp.mailfrom"]); aligned(d, fromDomain) {
					return Result{Pass, by("spf=pass smtp.mailfrom=" + d)}
				}
			case "fail", "softfail", "hardfail":
				spfFailed = true
			}
		}
	}
	if spfFailed && !dkimPassed {
		return Result{Fail, by("spf=fail and no DKIM pass")}
	}
	return Result{None, by("no DMARC result and no aligned pass")}
}

// domainOf is the domain of an address, or the value itself when it has
// no @ (header.d, a bare domain).
func domainOf(addr string) string {
	addr = strings.TrimSpace(addr)
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		addr = addr[i+1:]
	}
	return strings.ToLower(strings.TrimSuffix(addr, "."))
}

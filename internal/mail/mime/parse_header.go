package mime

import (
	"io"
	stdmime "mime"
	netmail "net/mail"
	nettextproto "net/textproto"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-message/textproto"
)

// wordDecoder decodes RFC 2047 encoded words with every charset the body
// decoder knows, so "=?Shift_JIS?B?...?=" works as well as UTF-8.
var wordDecoder = &stdmime.WordDecoder{
	CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
		return charsetReader(strings.ToLower(label), r)
	},
}

func (p *parser) readHeader(h textproto.Header) {
	m := p.msg
	ids := p.msgIDs(h, "Message-Id")
	if len(ids) > 0 {
		m.MessageID = ids[0]
	}
	m.InReplyTo = p.msgIDs(h, "In-Reply-To")
	m.References = p.msgIDs(h, "References")
	if from := p.addresses(h, "From"); len(from) > 0 {
		m.From = from[0]
	} else if sender := p.addresses(h, "Sender"); len(sender) > 0 {
		m.From = sender[0]
		p.problem("no From address; used Sender")
	}
	m.To = p.addresses(h, "To")
	m.Cc = p.addresses(h, "Cc")
	m.ReplyTo = p.addresses(h, "Reply-To")
	m.DeliveredTo = envelopeRecipients(h)

	m.ReturnPath = strings.TrimSpace(h.Get("Return-Path"))
	m.EmptyReturnPath = h.Has("Return-Path") && strings.Join(strings.Fields(m.ReturnPath), "") == "<>"

	if raw := h.Get("Subject"); raw != "" {
		s, err := wordDecoder.DecodeHeader(raw)
		if err != nil {
			p.problem("Subject: %v; kept undecoded", err)
			s = raw
		}
		m.Subject = OneLine(s)
	}
	if raw := h.Get("Date"); raw != "" {
		d, err := parseDate(raw)
		if err != nil {
			p.problem("Date %q: %v", clip(raw, 80), err)
		} else {
			m.Date = d
		}
	}

	get := func(k string) string { return OneLine(h.Get(k)) }
	m.Header = Header{
		AutoSubmitted:         get("Auto-Submitted"),
		Precedence:            get("Precedence"),
		XAutoreply:            get("X-Autoreply"),
		XAutorespond:          get("X-Autorespond"),
		ListID:                get("List-Id"),
		ListUnsubscribe:       get("List-Unsubscribe"),
		XPriority:             get("X-Priority"),
		Importance:            get("Importance"),
		XAutoResponseSuppress: get("X-Auto-Response-Suppress"),
	}
	pos := -1
	for f := h.Fields(); f.Next(); {
		pos++
		k := nettextproto.CanonicalMIMEHeaderKey(f.Key())
		if k == "Authentication-Results" {
			// Bounded: a sender can add any number of its own.
			if len(m.Header.AuthResults) < maxAuthResults {
				m.Header.AuthResults = append(m.Header.AuthResults, AuthResult{Value: clip(f.Value(), maxAuthResultBytes), Pos: pos})
			}
			continue
		}
		if !strings.HasPrefix(k, "X-Ticketsync") {
			continue
		}
		if m.Header.XTicketsync == nil {
			m.Header.XTicketsync = map[string]string{}
		}
		if _, seen := m.Header.XTicketsync[k]; !seen {
			m.Header.XTicketsync[k] = OneLine(f.Value())
		}
	}
}

// addresses parses an address header, falling back to salvaging each
// comma-separated entry: one malformed address must not hide the others,
// and above all must not lose the sender.
func (p *parser) addresses(h textproto.Header, key string) []Address {
	raw := h.Get(key)
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	parser := netmail.AddressParser{WordDecoder: wordDecoder}
	list, err := parser.ParseList(raw)
	if err == nil {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, Address{Name: OneLine(a.Name), Email: strings.ToLower(a.Address)})
		}
		return out
	}
	var out []Address
	for _, entry := range splitAddressList(raw) {
		if a, err := parser.Parse(entry); err == nil {
			out = append(out, Address{Name: OneLine(a.Name), Email: strings.ToLower(a.Address)})
		} else if a, ok := salvageAddress(entry); ok {
			out = append(out, a)
		}
	}
	p.problem("%s: %v; salvaged %d address(es)", key, err, len(out))
	return out
}

// splitAddressList splits at commas outside quotes. Angle brackets are not
// tracked: an unclosed "<" is a common defect and must not swallow the
// addresses after it.
func splitAddressList(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// salvageAddress takes the <...> part (closed or not), or the first word
// with an @, and the text before it as the name.
func salvageAddress(s string) (Address, bool) {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		email, _, _ := strings.Cut(s[i+1:], ">")
		email = strings.TrimSpace(email)
		if strings.Contains(email, "@") && !strings.ContainsAny(email, " \t<") {
			name := strings.Trim(strings.TrimSpace(s[:i]), `"`)
			if dec, err := wordDecoder.DecodeHeader(name); err == nil {
				name = dec
			}
			return Address{Name: OneLine(name), Email: strings.ToLower(email)}, true
		}
	}
	for _, w := range strings.Fields(s) {
		w = strings.Trim(w, `<>"(),;`)
		if strings.Contains(w, "@") {
			return Address{Email: strings.ToLower(w)}, true
		}
	}
	return Address{}, false
}

// msgIDs extracts message ids leniently: real mailers omit brackets, add
// commas or fold inside ids.
func (p *parser) msgIDs(h textproto.Header, key string) []string {
	var ids []string
	for _, raw := range h.Values(key) {
		ids = append(ids, extractIDs(raw)...)
	}
	if len(ids) == 0 && strings.TrimSpace(h.Get(key)) != "" {
		p.problem("%s: no message id in %q", key, clip(h.Get(key), 80))
	}
	if len(ids) > maxIDs {
		// Keep the thread root and the most recent ids: that is where our
		// own Message-IDs are.
		ids = append(ids[:1], ids[len(ids)-maxIDs+1:]...)
	}
	return ids
}

func extractIDs(s string) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.Join(strings.Fields(id), "")
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	rest := s
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		add(rest[i+1 : i+j])
		rest = rest[i+j+1:]
	}
	if len(ids) == 0 {
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == ',' }) {
			if strings.Contains(w, "@") {
				add(strings.Trim(w, "<>"))
			}
		}
	}
	return ids
}

// envelopeRecipients gathers what the delivering MTAs recorded as the
// envelope recipient; these headers differ per MTA (Postfix/Dovecot
// Delivered-To and X-Original-To, Exim Envelope-To).
func envelopeRecipients(h textproto.Header) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range []string{"Delivered-To", "X-Original-To", "Envelope-To"} {
		for _, v := range h.Values(k) {
			for _, a := range strings.Split(v, ",") {
				a = strings.ToLower(strings.Trim(strings.TrimSpace(a), "<>"))
				if a != "" && !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// OneLine makes a header value, or any text a mail server sent, safe to
// show and compare: valid UTF-8, no control characters, runs of whitespace
// folded to one space.
func OneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// clip shortens a value quoted in a problem message.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// parseDate tries the layout nearly every mail client writes before
// net/mail's list of layouts, whose failed attempts each allocate an error.
func parseDate(raw string) (time.Time, error) {
	if t, err := time.Parse("Mon, _2 Jan 2006 15:04:05 -0700", strings.TrimSpace(raw)); err == nil {
		return t, nil
	}
	return netmail.ParseDate(raw)
}

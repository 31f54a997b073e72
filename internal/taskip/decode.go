package taskip

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// UnmarshalJSONFrom decodes a ticket by hand. List pages are the daemon's
// hottest input (every poll), and reading members with a switch instead of
// reflection halves the cost of a page (BENCHMARKS.md). Member names are
// compared in their raw form; the API sends plain ASCII names.
func (t *Ticket) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return t.decode(d, nil)
}

// decode reads one ticket; in, when set, shares the strings that repeat
// across the tickets of a page (names, emails, dates).
func (t *Ticket) decode(d *jsontext.Decoder, in *interner) error {
	if d.PeekKind() == 'n' {
		_, err := d.ReadToken()
		return err
	}
	*t = Ticket{}
	return readObject(d, func(name jsontext.Value) error {
		if err := t.decodeMember(d, name, in); err != nil {
			return fmt.Errorf("ticket %s: %w", name, err)
		}
		return nil
	})
}

// decodeMember reads the value of one member, given its raw quoted name.
// Strings are capped as they are read (see maxTextBytes and its siblings).
func (t *Ticket) decodeMember(d *jsontext.Decoder, name jsontext.Value, in *interner) (err error) {
	switch string(name) {
	case `"id"`:
		err = t.ID.UnmarshalJSONFrom(d)
	case `"uuid"`:
		t.UUID, err = readCapped(d, maxShortBytes)
	case `"subject"`:
		t.Subject, err = readCapped(d, maxSubjectBytes)
	case `"created_by"`:
		err = t.CreatedBy.decode(d, in)
	case `"user"`:
		err = t.User.decode(d, in)
	case `"priority"`:
		err = t.Priority.UnmarshalJSONFrom(d)
	case `"status"`:
		err = t.Status.UnmarshalJSONFrom(d)
	case `"description"`:
		t.Description, err = readCapped(d, maxTextBytes)
	case `"attachment"`:
		t.Attachment, err = readMedia(d, in)
	case `"createAt"`:
		t.CreateAt, err = in.readCapped(d, maxShortBytes)
	case `"date"`:
		t.Date, err = in.readCapped(d, maxShortBytes)
	case `"time"`:
		t.Time, err = in.readCapped(d, maxShortBytes)
	case `"created_at"`:
		err = t.CreatedAt.decode(d, in)
	case `"updated_at"`:
		err = t.UpdatedAt.UnmarshalJSONFrom(d)
	case `"reply_count"`:
		t.ReplyCount, err = readInt(d)
	case `"assigned_to"`:
		err = t.AssignedTo.UnmarshalJSONFrom(d)
	case `"assigned_to_name"`:
		t.AssignedToName, err = in.readCapped(d, maxShortBytes)
	case `"category"`:
		t.Category, err = in.readCapped(d, maxShortBytes)
	case `"tags"`:
		if err = json.UnmarshalDecode(d, &t.Tags); err == nil {
			t.Tags = capStrings(t.Tags, maxTags, maxShortBytes)
		}
	case `"replies"`:
		err = json.UnmarshalDecode(d, &t.Replies)
	case `"notes"`:
		err = json.UnmarshalDecode(d, &t.Notes)
	case `"ticket_number"`:
		t.TicketNumber, err = readCapped(d, maxShortBytes)
	case `"title"`:
		t.Title, err = readCapped(d, maxSubjectBytes)
	case `"client_id"`:
		err = t.ClientID.UnmarshalJSONFrom(d)
	case `"client_name"`:
		t.ClientName, err = readCapped(d, maxShortBytes)
	case `"client_email"`:
		t.ClientEmail, err = readCapped(d, maxShortBytes)
	default:
		err = d.SkipValue()
	}
	return err
}

// readMedia reads {"id","url","name","size"} or null.
func readMedia(d *jsontext.Decoder, in *interner) (*Media, error) {
	if d.PeekKind() != '{' {
		_, err := d.ReadValue() // null, or a bare media id some servers send
		return nil, err
	}
	m := &Media{}
	err := readObject(d, func(name jsontext.Value) (err error) {
		switch string(name) {
		case `"id"`:
			err = m.ID.UnmarshalJSONFrom(d)
		case `"url"`:
			m.URL, err = in.readCapped(d, maxURLBytes)
		case `"name"`:
			m.Name, err = in.readCapped(d, maxFileNameBytes)
		case `"size"`:
			var n int
			n, err = readInt(d)
			m.Size = int64(n)
		default:
			err = d.SkipValue()
		}
		return err
	})
	return m, err
}

func expectObject(d *jsontext.Decoder) error {
	tok, err := d.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return fmt.Errorf("want an object, got %s", tok.Kind())
	}
	return nil
}

// readObject reads one object, handing each member's raw quoted name to
// member, which must consume the value.
func readObject(d *jsontext.Decoder, member func(name jsontext.Value) error) error {
	if err := expectObject(d); err != nil {
		return err
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
	}
	_, err := d.ReadToken()
	return err
}

// readString reads a string, or null as "". A number is accepted as its text
// since loosely typed servers send "42" and 42 alike.
func readString(d *jsontext.Decoder) (string, error) {
	tok, err := d.ReadToken()
	if err != nil {
		return "", err
	}
	switch tok.Kind() {
	case '"':
		return tok.String(), nil
	case 'n':
		return "", nil
	case '0':
		return tok.String(), nil
	}
	return "", fmt.Errorf("want a string, got %s", tok.Kind())
}

// readCapped is readString with the result capped to limit bytes.
func readCapped(d *jsontext.Decoder, limit int) (string, error) {
	s, err := readString(d)
	return capString(s, limit), err
}

// readInt reads a number, a numeric string or null (as 0).
func readInt(d *jsontext.Decoder) (int, error) {
	v, err := d.ReadValue()
	if err != nil {
		return 0, err
	}
	switch {
	case len(v) == 0 || string(v) == "null":
		return 0, nil
	case v[0] == '"':
		v = v[1 : len(v)-1]
		if len(v) == 0 {
			return 0, nil
		}
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %s", v)
	}
	return n, nil
}

// TicketPage decoding reads the tickets with one interner for the page.
func (p *TicketPage) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	*p = TicketPage{}
	in := newInterner()
	err := readObject(d, func(name jsontext.Value) error {
		switch {
		case string(name) == `"data"` && d.PeekKind() == '[':
			_, _ = d.ReadToken()
			p.Tickets = make([]Ticket, 0, 64)
			for d.PeekKind() != ']' {
				p.Tickets = append(p.Tickets, Ticket{})
				if err := p.Tickets[len(p.Tickets)-1].decode(d, in); err != nil {
					return fmt.Errorf("ticket %d of page: %w", len(p.Tickets), err)
				}
			}
			_, err := d.ReadToken()
			return err
		case string(name) == `"meta"`:
			return json.UnmarshalDecode(d, &p.Meta)
		}
		return d.SkipValue()
	})
	if err != nil {
		return fmt.Errorf("ticket page: %w", err)
	}
	return nil
}

// interner shares short strings that repeat within one response. A nil
// interner allocates every string, which is what single-ticket reads need.
type interner struct{ m map[string]string }

func newInterner() *interner { return &interner{m: make(map[string]string, 64)} }

func (in *interner) readString(d *jsontext.Decoder) (string, error) {
	if in == nil {
		return readString(d)
	}
	v, err := d.ReadValue()
	if err != nil {
		return "", err
	}
	raw := unquoteFast(v)
	if raw == nil || len(raw) > 64 {
		return readString(jsontext.NewDecoder(bytes.NewReader(v)))
	}
	return in.intern(raw), nil
}

// readCapped is readString with the result capped to limit bytes. Only
// strings of up to 64 bytes are interned, so a capped one never is.
func (in *interner) readCapped(d *jsontext.Decoder, limit int) (string, error) {
	s, err := in.readString(d)
	return capString(s, limit), err
}

func (in *interner) intern(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < 512 {
		in.m[s] = s
	}
	return s
}

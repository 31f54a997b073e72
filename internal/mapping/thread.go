package mapping

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// ThreadKeyKind says where a candidate ticket link came from.
type ThreadKeyKind string

// Kinds of thread keys, in the order threading tries them.
const (
	KeyMessageID ThreadKeyKind = "message_id" // In-Reply-To / References
	// KeyReplyToken is address+<uuid>.<token>@domain with the token our
	// key signs: only mail that answers ours knows it.
	KeyReplyToken  ThreadKeyKind = "reply_token"
	KeyPlusAddress ThreadKeyKind = "plus_address" // address+<uuid>@domain, no valid token
	KeySubjectTag  ThreadKeyKind = "subject_tag"  // [#<uuid>] in the subject
)

// ThreadKey is one way the email may name its ticket. The bridge resolves
// keys in order; the first that names a known ticket wins.
type ThreadKey struct {
	Kind  ThreadKeyKind `json:"kind"`
	Value string        `json:"value"` // a Message-ID or a ticket uuid (lowercased)
}

// DefaultSubjectTag is mail.subject_tag when none is configured.
const DefaultSubjectTag = "[#{{.UUID}}]"

// Threading knows our address and subject tag, to find ticket links in mail.
type Threading struct {
	local, domain string
	tmpl          *template.Template
	tag           *regexp.Regexp
	// key signs reply addresses (WithReplyKey); nil writes bare ones.
	key []byte
}

// WithReplyKey returns a Threading whose reply addresses carry a token
// keyed by key: address+<uuid>.<token>@domain. A subject tag or a bare
// uuid can be copied from anything the customer forwarded; the token
// shows a mail answers one of ours, whoever wrote its From line.
func (t *Threading) WithReplyKey(key []byte) *Threading {
	c := *t
	c.key = append([]byte(nil), key...)
	return &c
}

// replyTokenLen is how much of the HMAC the address carries: 50 bits,
// far beyond guessing by sending mail, short enough for an address.
const replyTokenLen = 10

// replyToken signs a ticket uuid.
func (t *Threading) replyToken(uuid string) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(strings.ToLower(uuid)))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(mac.Sum(nil)))[:replyTokenLen]
}

var uuidPattern = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`

// NewThreading takes the support address and the subject_tag template.
func NewThreading(address, subjectTag string) (*Threading, error) {
	local, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(address)), "@")
	if !ok || local == "" || domain == "" {
		return nil, fmt.Errorf("threading: %q is not an email address", address)
	}
	tmpl, err := template.New("tag").Option("missingkey=error").Parse(subjectTag)
	if err != nil {
		return nil, fmt.Errorf("threading: subject tag: %w", err)
	}
	re, err := tagPattern(tmpl)
	if err != nil {
		return nil, err
	}
	return &Threading{local: local, domain: domain, tmpl: tmpl, tag: re}, nil
}

// tagPattern turns "[#{{.UUID}}]" into a regexp that finds the uuid, by
// rendering the template around a marker and quoting the rest.
func tagPattern(tmpl *template.Template) (*regexp.Regexp, error) {
	const uuidMarker, idMarker = "\x00uuid\x00", "\x00id\x00"
	rendered, err := render(tmpl, idMarker, uuidMarker)
	if err != nil {
		return nil, err
	}
	before, after, ok := strings.Cut(rendered, uuidMarker)
	if !ok {
		return nil, fmt.Errorf("threading: subject tag does not contain {{.UUID}}")
	}
	quote := func(s string) string {
		// An {{.ID}} in the tag matches any number.
		parts := strings.Split(s, idMarker)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		return strings.Join(parts, `\d+`)
	}
	return regexp.Compile(`(?i)` + quote(before) + `(` + uuidPattern + `)` + quote(after))
}

func render(tmpl *template.Template, id, uuid string) (string, error) {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, struct{ ID, UUID string }{ID: id, UUID: uuid}); err != nil {
		return "", fmt.Errorf("threading: subject tag: %w", err)
	}
	return b.String(), nil
}

// Tag appends the ticket's subject tag unless the subject carries it.
func (t *Threading) Tag(subject string, id int64, uuid string) string {
	if t.tag.MatchString(subject) {
		return subject
	}
	tag, err := render(t.tmpl, fmt.Sprint(id), uuid)
	if err != nil {
		// The template rendered at construction; it cannot fail now.
		return subject
	}
	return strings.TrimSpace(subject + " " + tag)
}

// ReplyAddress is address+<uuid>.<token>@domain (address+<uuid>@domain
// without a reply key), where replies to a ticket go.
func (t *Threading) ReplyAddress(uuid string) string {
	tag := strings.ToLower(uuid)
	if t.key != nil {
		tag += "." + t.replyToken(uuid)
	}
	return t.local + "+" + tag + "@" + t.domain
}

// Keys lists the ticket links in e, most specific first: the Message-IDs it
// answers (In-Reply-To, then References newest first), our plus addresses
// among its recipients, then a subject tag.
func (t *Threading) Keys(e Email) []ThreadKey {
	var keys []ThreadKey
	seen := map[ThreadKey]bool{}
	add := func(k ThreadKey) {
		if k.Value != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, id := range e.InReplyTo {
		add(ThreadKey{KeyMessageID, id})
	}
	for i := len(e.References) - 1; i >= 0; i-- {
		add(ThreadKey{KeyMessageID, e.References[i]})
	}
	var bare []ThreadKey
	for _, group := range [][]string{e.To, e.Cc, e.DeliveredTo} {
		for _, addr := range group {
			if uuid, signed, ok := t.plusUUID(addr); ok && signed {
				add(ThreadKey{KeyReplyToken, uuid})
			} else if ok {
				bare = append(bare, ThreadKey{KeyPlusAddress, uuid})
			}
		}
	}
	for _, k := range bare {
		add(k)
	}
	if m := t.tag.FindStringSubmatch(e.Subject); m != nil {
		add(ThreadKey{KeySubjectTag, strings.ToLower(m[1])})
	}
	return keys
}

var uuidRE = regexp.MustCompile(`^` + uuidPattern + `$`)

// plusUUID reads address+<uuid>[.<token>]@domain; signed says the token
// is the one our key gives that uuid. A wrong token counts as none.
func (t *Threading) plusUUID(addr string) (uuid string, signed, ok bool) {
	local, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(addr)), "@")
	if !ok || domain != t.domain {
		return "", false, false
	}
	base, tag, ok := strings.Cut(local, "+")
	if !ok || base != t.local {
		return "", false, false
	}
	uuid, token, _ := strings.Cut(tag, ".")
	if !uuidRE.MatchString(uuid) {
		return "", false, false
	}
	signed = t.key != nil && token != "" && hmac.Equal([]byte(token), []byte(t.replyToken(uuid)))
	return uuid, signed, true
}

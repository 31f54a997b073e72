package demo

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"

	gomail "github.com/emersion/go-message/mail"
)

// sinkMail is one message the SMTP sink accepted, read the way the
// customer's mail client would.
type sinkMail struct {
	header    gomail.Header
	subject   string
	messageID string
	inReplyTo []string
	replyTo   string
	text      string // the text/plain body, decoded
}

// mailsTo returns the sink's messages for rcpt that keep accepts, oldest
// first. Messages that cannot be read are skipped: a check then reports
// what it is missing.
func (s *story) mailsTo(rcpt string, keep func(sinkMail) bool) []sinkMail {
	var out []sinkMail
	for _, r := range s.w.SMTP.Messages() {
		if !containsFold(r.To, rcpt) {
			continue
		}
		m, err := readSinkMail(r.Data)
		if err != nil {
			continue
		}
		if keep(m) {
			out = append(out, m)
		}
	}
	return out
}

func readSinkMail(data []byte) (sinkMail, error) {
	mr, err := gomail.CreateReader(bytes.NewReader(data))
	if err != nil {
		return sinkMail{}, err
	}
	defer mr.Close()
	m := sinkMail{header: mr.Header}
	m.subject, _ = mr.Header.Subject()
	m.messageID, _ = mr.Header.MessageID()
	m.inReplyTo, _ = mr.Header.MsgIDList("In-Reply-To")
	if list, err := mr.Header.AddressList("Reply-To"); err == nil && len(list) > 0 {
		m.replyTo = list[0].Address
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, err
		}
		h, ok := p.Header.(*gomail.InlineHeader)
		if !ok {
			continue
		}
		if ct, _, _ := mime.ParseMediaType(h.Get("Content-Type")); ct == "text/plain" && m.text == "" {
			b, err := io.ReadAll(p.Body)
			if err != nil {
				return m, err
			}
			m.text = string(b)
		}
	}
	return m, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

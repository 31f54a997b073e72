package mime

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// The MIME tree is walked here rather than with go-message's Entity.Walk or
// mail.Reader: those cannot bound the nesting depth or the part headers,
// lose the body when the declared boundary is wrong, and give up on a
// Content-Type with one bad parameter. The bytes are still split by
// go-message's textproto.MultipartReader.

// altState remembers which body kinds a multipart/alternative already gave,
// so a second text/plain alternative does not duplicate the text.
type altState struct{ plain, html bool }

// entity handles one MIME entity whose header is already read. Only a
// failure of the spool directory is returned; everything else is a problem.
func (p *parser) entity(h textproto.Header, ct contentType, body io.Reader, depth int, alt *altState) error {
	if strings.HasPrefix(ct.mediaType, "multipart/") {
		return p.multipart(ct, body, depth, false)
	}
	return p.leaf(h, ct, body, alt)
}

func (p *parser) multipart(ct contentType, body io.Reader, depth int, recovering bool) error {
	if depth >= maxDepth {
		p.problem("multipart nested deeper than %d levels; the inner parts were skipped", maxDepth)
		p.drain(body)
		return nil
	}
	boundary := ct.params["boundary"]
	if boundary == "" {
		p.problem("%s without a boundary; read as plain text", ct.mediaType)
		return p.leaf(textproto.Header{}, plainText(), body, nil)
	}
	rec := &recorder{r: body}
	g := &budgetReader{r: rec, budget: -1}
	mr := textproto.NewMultipartReader(g, boundary)
	var alt *altState
	if ct.mediaType == "multipart/alternative" {
		alt = &altState{}
	}
	for i := 0; ; i++ {
		g.arm(maxPartHeaderBytes + multipartPeek)
		part, err := mr.NextPart()
		g.disarm()
		if p.stopped() {
			return nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if i == 0 && !recovering {
				return p.recoverMultipart(ct, rec, body, depth, err, g.hit)
			}
			p.partsEnded(ct, boundary, err, g.hit)
			break
		}
		rec.stop()
		if p.parts++; p.parts > maxParts {
			p.problem("more than %d MIME parts; the rest were skipped", maxParts)
			break
		}
		pct := p.contentType(part.Header)
		if err := p.entity(part.Header, pct, part, depth+1, alt); err != nil {
			return err
		}
		p.drain(part)
		if p.stopped() {
			return nil
		}
	}
	p.drain(g)
	return nil
}

// partsEnded words why a multipart stopped early. The usual case is a
// message cut off (or a sender that forgot the closing boundary): every
// part before it is kept.
func (p *parser) partsEnded(ct contentType, boundary string, err error, budgetHit bool) {
	switch {
	case budgetHit:
		p.problem("%s: a part header is larger than %d bytes; the rest was skipped", ct.mediaType, maxPartHeaderBytes)
	case p.cutShort || strings.HasSuffix(err.Error(), "EOF"):
		p.problem("%s: closing boundary %q missing; the message may be truncated", ct.mediaType, clip(boundary, 72))
	default:
		p.problem("%s: %v; the rest was skipped", ct.mediaType, err)
	}
	p.cutShort = false
}

// recoverMultipart runs when the first part could not be found. Mailers and
// hand-edited messages get the boundary parameter wrong; when the body
// clearly has another one (a "--x" line followed by a Content- header) the
// parts are read with that, else the body is read as plain text so the
// customer's words survive.
func (p *parser) recoverMultipart(ct contentType, rec *recorder, body io.Reader, depth int, cause error, budgetHit bool) error {
	seen := rec.buf
	rec.stop()
	declared := ct.params["boundary"]
	found, off := findBoundary(seen)
	rest := io.MultiReader(bytes.NewReader(seen[off:]), body)
	switch {
	case found != "" && found == declared:
		p.problem("%s: preamble unreadable (%v); parts read from the first boundary", ct.mediaType, cause)
	case found != "":
		p.problem("%s: boundary %q not found; used %q found in the body", ct.mediaType, clip(declared, 72), clip(found, 72))
	case budgetHit:
		p.problem("%s: no boundary %q in the first %d bytes; body read as plain text", ct.mediaType, clip(declared, 72), maxPartHeaderBytes)
		return p.leaf(textproto.Header{}, plainText(), rest, nil)
	default:
		p.problem("%s: boundary %q not found; body read as plain text", ct.mediaType, clip(declared, 72))
		return p.leaf(textproto.Header{}, plainText(), rest, nil)
	}
	fixed := contentType{mediaType: ct.mediaType, params: map[string]string{}}
	for k, v := range ct.params {
		fixed.params[k] = v
	}
	fixed.params["boundary"] = found
	return p.multipart(fixed, rest, depth, true)
}

// findBoundary returns the first "--token" line that is followed by a
// "Content-" header line, and the offset where that line starts. Requiring
// the header keeps "-----Original Message-----" from being taken for one.
func findBoundary(b []byte) (string, int) {
	off := 0
	for off < len(b) {
		end := bytes.IndexByte(b[off:], '\n')
		if end < 0 {
			return "", 0
		}
		line := strings.TrimRight(string(b[off:off+end]), "\r \t")
		next := off + end + 1
		if strings.HasPrefix(line, "--") && len(line) > 2 && len(line) <= 72 && !strings.ContainsAny(line, "\t") {
			after := b[next:]
			if len(after) >= 8 && strings.EqualFold(string(after[:8]), "content-") {
				return line[2:], off
			}
		}
		off = next
	}
	return "", 0
}

func plainText() contentType {
	return contentType{mediaType: "text/plain", params: map[string]string{}}
}

// leaf handles a single-part entity: body text is read into memory (capped),
// everything else is spooled as an attachment.
func (p *parser) leaf(h textproto.Header, ct contentType, body io.Reader, alt *altState) error {
	disp, dparams := p.disposition(h)
	disp = strings.ToLower(disp)
	name := dparams["filename"]
	if name == "" {
		name = ct.params["name"]
	}
	isBody := (ct.mediaType == "text/plain" || ct.mediaType == "text/html") && disp != "attachment" && name == ""
	if isBody && alt != nil {
		taken := &alt.plain
		if ct.mediaType == "text/html" {
			taken = &alt.html
		}
		if *taken {
			// Undecoded: what is wrong with the encoding of a part that is
			// not used is nothing the operator needs to hear about.
			p.drain(body)
			return nil
		}
		*taken = true
	}
	decoded, checked := p.transferDecoder(h, body, ct.mediaType)
	defer checked()
	if isBody {
		p.readText(ct, decoded)
		return nil
	}
	cid := strings.Trim(strings.TrimSpace(h.Get("Content-Id")), "<>")
	meta := Attachment{
		Filename:    attachmentName(name, ct.mediaType, len(p.msg.Attachments)+len(p.msg.Refused)+1),
		ContentType: ct.mediaType,
		ContentID:   OneLine(cid),
		Inline:      disp == "inline" || (disp == "" && cid != ""),
	}
	return p.spool(meta, decoded)
}

// readText reads a body part up to what is left of maxTextBytes. A read
// failure keeps what came before it: half a text beats none.
func (p *parser) readText(ct contentType, r io.Reader) {
	room := maxTextBytes - p.textBytes
	if room < 0 {
		room = 0
	}
	b, truncated, err := readCapped(r, room, p.buf)
	if err != nil {
		p.noteReadError(err)
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrMessageTooLarge) {
			p.problem("%s part: %s; kept the %d bytes before it", ct.mediaType, describeReadError(err), len(b))
		}
	}
	if truncated {
		p.problem("%s part: text beyond %d bytes dropped", ct.mediaType, maxTextBytes)
	}
	p.textBytes += int64(len(b))
	s := p.decodeText(ct.params["charset"], b, ct.mediaType)
	if ct.mediaType == "text/html" {
		p.html = append(p.html, s)
		return
	}
	p.plain = append(p.plain, normalizeText(s, ct.params))
}

package mime

import (
	"errors"
	"io"
)

// limitReader enforces MaxMessageBytes on the raw input. It remembers why
// reading stopped, because go-message's multipart reader flattens the errors
// it passes on (fmt "%v") and errors.Is cannot find them afterwards.
type limitReader struct {
	r        io.Reader
	max      int64
	n        int64
	exceeded bool  // the input has more than max bytes
	err      error // a failure of the underlying reader (not EOF)
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.exceeded {
		return 0, ErrMessageTooLarge
	}
	if l.err != nil {
		return 0, l.err
	}
	if l.n >= l.max {
		// Probe one byte: a message of exactly max bytes is fine.
		var one [1]byte
		k, err := io.ReadFull(l.r, one[:])
		if k > 0 {
			l.exceeded = true
			return 0, ErrMessageTooLarge
		}
		return 0, l.note(err)
	}
	if rest := l.max - l.n; int64(len(b)) > rest {
		b = b[:rest]
	}
	k, err := l.r.Read(b)
	l.n += int64(k)
	return k, l.note(err)
}

func (l *limitReader) note(err error) error {
	if err != nil && err != io.EOF {
		l.err = err
	}
	return err
}

var errBudget = errors.New("mail: header block too large")

// budgetReader fails once more than budget bytes were read while armed.
// It bounds the header blocks go-message reads without a limit of its own
// (each MIME part header, and the preamble scanned for the first boundary),
// which would otherwise let a crafted part cost memory far beyond its size.
type budgetReader struct {
	r      io.Reader
	budget int64 // < 0: unlimited
	hit    bool
}

func (g *budgetReader) arm(n int64) { g.budget = n }
func (g *budgetReader) disarm()     { g.budget = -1 }

func (g *budgetReader) Read(b []byte) (int, error) {
	if g.budget < 0 {
		return g.r.Read(b)
	}
	if g.budget == 0 {
		g.hit = true
		return 0, errBudget
	}
	if int64(len(b)) > g.budget {
		b = b[:g.budget]
	}
	n, err := g.r.Read(b)
	g.budget -= int64(n)
	return n, err
}

// recorder keeps a copy of what was read until stop, so a multipart body
// whose declared boundary never shows up can be read again with the one
// that does. A budgetReader above it bounds how much that can be.
type recorder struct {
	r   io.Reader
	buf []byte
	off bool
}

func (c *recorder) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if !c.off {
		c.buf = append(c.buf, b[:n]...)
	}
	return n, err
}

func (c *recorder) stop() {
	c.off = true
	c.buf = nil
}

// base64Filter passes only base64 alphabet bytes, so the stdlib decoder
// accepts what real mailers send (spaces, tabs, stray characters), and pads
// a final quantum whose "=" the sender forgot. It must not swallow a real
// read error: io.ErrUnexpectedEOF from a multipart body means "cut short".
type base64Filter struct {
	r    io.Reader
	n    int // alphabet bytes passed, excluding '='
	pads int
	tail []byte
}

func (f *base64Filter) Read(b []byte) (int, error) {
	if f.tail != nil {
		n := copy(b, f.tail)
		f.tail = f.tail[n:]
		if len(f.tail) == 0 {
			return n, io.EOF
		}
		return n, nil
	}
	for {
		n, err := f.r.Read(b)
		k := 0
		for _, c := range b[:n] {
			switch {
			case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
				f.n++
			case c == '=':
				f.pads++
			default:
				continue
			}
			b[k] = c
			k++
		}
		if err == io.EOF && f.pads == 0 {
			switch f.n % 4 {
			case 2:
				f.tail = []byte("==")
			case 3:
				f.tail = []byte("=")
			}
			if f.tail != nil {
				return k, nil
			}
		}
		if k > 0 || err != nil || n == 0 {
			return k, err
		}
	}
}

// readCapped reads up to max bytes of r and drains the rest, so the caller
// always leaves the part consumed. It reports whether anything was cut.
func readCapped(r io.Reader, max int64, buf []byte) (data []byte, truncated bool, err error) {
	data, err = io.ReadAll(io.LimitReader(r, max))
	if err != nil {
		return data, false, err
	}
	n, err := io.CopyBuffer(io.Discard, r, buf)
	return data, n > 0, err
}

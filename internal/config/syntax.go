package config

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxSyntaxSearchBytes bounds the work of syntaxProblem's search, counted
// as the bytes of every prefix it may parse. yaml.v3 parses some 20 MB/s,
// so a file past it keeps yaml.v3's own line rather than stall
// check-config; config.example.yaml needs under 0.5 MB.
const maxSyntaxSearchBytes = 8 << 20

// unterminatedQuote is the only scanner error yaml.v3 raises at the end of
// the stream inside a quoted scalar.
const unterminatedQuote = "found unexpected end of stream"

var yamlErrPrefix = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// syntaxProblem turns a yaml.v3 parse error into a Problem at the line
// where the document really breaks.
//
// yaml.v3 reports the line of the construct it was inside when it gave up
// (off by one for parser errors) or, when that construct starts on the
// first line, the line where the scanner stopped. An unclosed quote is
// closed by the next quote in the file, often lines further on, and the
// error then surfaces there as "did not find expected key" against the
// enclosing mapping. So the line is found by re-parsing instead: every
// prefix of a well-formed document, cut at a line end, parses (only an open
// quote or flow collection spans lines, and those close again), while no
// prefix that contains the error does. The error is on the first line
// from which every prefix fails. An error inside a flow collection that
// spans lines is therefore reported where the collection opens.
func syntaxProblem(data []byte, err error) Problem {
	line, msg := splitYAMLError(err)
	if k, kerr := firstBrokenLine(data); k > 0 {
		line = k
		_, msg = splitYAMLError(kerr)
	}
	if msg == unterminatedQuote {
		msg = "a quoted value starts on this line and its closing quote is missing"
	}
	return Problem{Line: line, Message: "YAML syntax error: " + msg}
}

// firstBrokenLine returns the 1-based line from which every prefix of data
// cut at a line end fails to parse, and the error of the shortest such
// prefix; 0 when the whole text parses or the search would cost more than
// maxSyntaxSearchBytes.
func firstBrokenLine(data []byte) (int, error) {
	// ends[j] is the length of the prefix of j lines.
	ends := []int{0}
	cost := 0
	for rest := data; len(rest) > 0; {
		n := len(rest)
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			n = i + 1
		}
		rest = rest[n:]
		ends = append(ends, ends[len(ends)-1]+n)
		cost += ends[len(ends)-1]
	}
	if cost > maxSyntaxSearchBytes {
		return 0, nil
	}
	// From the end: a prefix cut inside a quote or flow collection that
	// the next lines close fails too, so the first failing prefix from the
	// start can be too early.
	last := len(ends) - 1
	var broken error
	for j := last; j > 0; j-- {
		err := parseAll(data[:ends[j]])
		if err == nil {
			if j == last {
				return 0, nil
			}
			return j + 1, broken
		}
		broken = err
	}
	if broken == nil {
		return 0, nil
	}
	return 1, broken
}

// parseAll parses every document, as a syntax error in a second one
// counts too.
func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// splitYAMLError separates yaml.v3's "yaml: line N: " prefix from the
// message; line is 0 when the error names none.
func splitYAMLError(err error) (line int, msg string) {
	s := err.Error()
	m := yamlErrPrefix.FindStringSubmatch(s)
	if m == nil {
		return 0, s
	}
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
	}
	return line, strings.TrimPrefix(s, m[0])
}

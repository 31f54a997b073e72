package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const unclosedQuoteMsg = "YAML syntax error: a quoted value starts on this line and its closing quote is missing"

// TestSyntaxProblemLine checks the line of a syntax error against where a
// person would put the fix. yamlWrong marks the cases where yaml.v3's own
// line is wrong or missing, to show that the search is what gets them right.
func TestSyntaxProblemLine(t *testing.T) {
	tests := []struct {
		name      string
		lines     []string
		line      int
		msg       string // the whole message, or "" to check only that there is one
		yamlWrong bool
	}{
		{name: "double quote never closed, first line",
			lines: []string{`a: "x`, `b: 1`}, line: 1, msg: unclosedQuoteMsg, yamlWrong: true},
		{name: "double quote never closed",
			lines: []string{`a:`, `  b: 1`, `  c: "x`, `  d: 2`}, line: 3, msg: unclosedQuoteMsg},
		{name: "single quote never closed",
			lines: []string{`a: 1`, `b: 'x`, ``, ``}, line: 2, msg: unclosedQuoteMsg},
		{name: "quote closed by a later value's quote",
			lines: []string{`a:`, `  b: 1`, `  c: "x`, `  d: 2`, `e:`, `  f: "y"`}, line: 3, msg: unclosedQuoteMsg, yamlWrong: true},
		{name: "quote closed by a later quote, then a scanner error",
			lines: []string{`a:`, `  c: "x`, `  d: 2`, `  e: 3`, `  f: "@y"`}, line: 2, msg: unclosedQuoteMsg, yamlWrong: true},
		{name: "quote in a flow mapping",
			lines: []string{`taskip: {secret_key: "x`}, line: 1, msg: unclosedQuoteMsg, yamlWrong: true},
		{name: "quote with a document marker after it",
			lines: []string{`a: 1`, `b: "x`, `---`, `c: 1`}, line: 2},
		{name: "quoted value over two lines, error after it",
			lines: []string{`a: "x`, `  y"`, `b: [`}, line: 3},
		{name: "flow mapping over two lines, error after it",
			lines: []string{`a: {b: 1,`, `  c: 2}`, `d: 1`, ` e: 2`}, line: 4},
		{name: "flow sequence never closed",
			lines: []string{`a: 1`, `b: [1, 2`, `c: 3`}, line: 2},
		{name: "indentation too small",
			lines: []string{`a:`, `  b:`, `    c: 1`, `   d: 2`, `    e: 3`}, line: 4, yamlWrong: true},
		{name: "indentation too large",
			lines: []string{`a:`, `  b: 1`, `    c: 2`}, line: 3},
		{name: "tab indentation",
			lines: []string{`a:`, "\tb: 1"}, line: 2},
		{name: "tab indentation, nested",
			lines: []string{`a:`, `  b:`, "\tc: 1"}, line: 3},
		{name: "indentation by tabs after a deeper mapping",
			lines: []string{`a:`, `  b:`, `    c: 1`, "\t\td: 2", `    e: 3`}, line: 4, yamlWrong: true},
		{name: "line of only a tab",
			lines: []string{`a:`, `  b: 1`, "\t", `  c: 2`}, line: 3, yamlWrong: true},
		{name: "key after a block scalar indented too little",
			lines: []string{`a: |`, `  text`, ` b: 1`}, line: 3, yamlWrong: true},
		{name: "list item indented too little",
			lines: []string{`a:`, `  - x`, ` - y`}, line: 3, yamlWrong: true},
		{name: "error in a flow sequence over lines is put where it opens",
			lines: []string{`a: 1`, `b: [1,`, `  2,`, `  : 3]`}, line: 2},
		{name: "quotes in comments and doubled single quotes",
			lines: []string{`a: b`, `# it's`, `c: 'it''s`, `d: 'e'`, `f: 'g'`}, line: 3, msg: unclosedQuoteMsg},
		{name: "mapping in a plain value",
			lines: []string{`a: 1`, `b: c: d`}, line: 2},
		{name: "unknown anchor",
			lines: []string{`a: 1`, `b: *x`}, line: 2, msg: "YAML syntax error: unknown anchor 'x' referenced", yamlWrong: true},
		{name: "bad escape",
			lines: []string{`a: 1`, `b: "\q"`}, line: 2},
		{name: "error in a second document",
			lines: []string{`a: 1`, `---`, `b: 'x`}, line: 3, msg: unclosedQuoteMsg},
		{name: "crlf line ends",
			lines: []string{"a: 1\r", "b: \"x\r", "c: 2\r"}, line: 2, msg: unclosedQuoteMsg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, end := range []string{"\n", ""} {
				data := []byte(strings.Join(tc.lines, "\n") + end)
				err := parseAll(data)
				require.Error(t, err, "%q parses", data)
				if yamlLine, _ := splitYAMLError(err); tc.yamlWrong {
					assert.NotEqual(t, tc.line, yamlLine, "yaml.v3 got %q right: the case no longer shows its flaw", data)
				}
				p := syntaxProblem(data, err)
				assert.Equal(t, tc.line, p.Line, "%q: %s (yaml.v3: %v)", data, p.Message, err)
				assert.Empty(t, p.Path)
				if tc.msg != "" {
					assert.Equal(t, tc.msg, p.Message)
				}
				assert.True(t, strings.HasPrefix(p.Message, "YAML syntax error: ") && len(p.Message) > len("YAML syntax error: "), p.Message)
				assert.NotContains(t, p.Message, "yaml: line")
			}
		})
	}
}

// Past the search budget yaml.v3's own line stands, so a huge file cannot
// make an error slow to report.
func TestSyntaxProblemLongFile(t *testing.T) {
	const filler = "c: 1\n"
	var b strings.Builder
	b.WriteString("a: 1\nb: \"x\nd: 2\n")
	// The search would parse about n²/2 filler lines.
	for n := 0; n*n/2*len(filler) <= maxSyntaxSearchBytes; n++ {
		b.WriteString(filler)
	}
	b.WriteString("e: \"@y\"\n")
	data := []byte(b.String())
	err := parseAll(data)
	require.Error(t, err)
	p := syntaxProblem(data, err)
	yamlLine, _ := splitYAMLError(err)
	assert.Equal(t, yamlLine, p.Line, p.Message)
	assert.NotEqual(t, 2, p.Line, "searched after all")

	// Within the budget, the same mistake is found.
	data = []byte("a: 1\nb: \"x\nd: 2\n" + strings.Repeat(filler, 100) + "e: \"@y\"\n")
	p = syntaxProblem(data, parseAll(data))
	assert.Equal(t, Problem{Line: 2, Message: unclosedQuoteMsg}, p)
}

func TestSplitYAMLError(t *testing.T) {
	for _, tc := range []struct {
		err  string
		line int
		msg  string
	}{
		{"yaml: line 22: found character that cannot start any token", 22, "found character that cannot start any token"},
		{"yaml: unknown anchor 'x' referenced", 0, "unknown anchor 'x' referenced"},
		{"something else", 0, "something else"},
	} {
		line, msg := splitYAMLError(errors.New(tc.err))
		assert.Equal(t, tc.line, line, tc.err)
		assert.Equal(t, tc.msg, msg, tc.err)
	}
}

// A syntax error reaches the caller as a ValidationError, so it prints
// like every other problem.
func TestSyntaxErrorIsAProblem(t *testing.T) {
	t.Run("first document", func(t *testing.T) {
		_, err := Parse([]byte("taskip:\n  secret_key: \"k\n  timeout: 1s\n"), testOpts())
		assert.Equal(t, []Problem{{Line: 2, Message: unclosedQuoteMsg}}, problems(t, err))
		assert.Equal(t, "line 2: "+unclosedQuoteMsg, err.Error())
	})
	t.Run("second document", func(t *testing.T) {
		_, err := Parse([]byte("taskip: {}\n---\nx: 'y\n"), testOpts())
		probs := problems(t, err)
		assert.Equal(t, []string{"", "taskip.secret_key"}, paths(probs))
		assert.Equal(t, Problem{Line: 3, Message: unclosedQuoteMsg}, probs[0])
	})
}

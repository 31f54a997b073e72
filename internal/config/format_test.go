package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenEnv holds the secrets the golden configs reference; none of them,
// nor the password of a URL in testdata, may reach the output.
var goldenEnv = map[string]string{
	"TASKIP_SECRET_KEY":    "tk-golden-3f9a",
	"IMAP_PASSWORD":        "imap-golden-77c1",
	"SLACK_BOT_TOKEN":      "xoxb-golden-50de",
	"SLACK_SIGNING_SECRET": "sign-golden-1b2e",
}

// TestGoldenOutput compares what check-config prints for each file in
// testdata with its .golden file, byte for byte: for a broken file its
// problems, one `file:line: path: message` each, and for a valid one the
// effective configuration. go test -update rewrites the golden files;
// their lines were checked by hand against the .yaml, so review the diff
// the same way. A syntax error stops parsing, hence one file per kind.
func TestGoldenOutput(t *testing.T) {
	matches, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, matches)
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".yaml")
		t.Run(name, func(t *testing.T) {
			// Slashes on every OS, as the golden files spell the name.
			file := "testdata/" + name + ".yaml"
			var got string
			cfg, err := Load(file, LoadOptions{Getenv: env(goldenEnv)})
			if err == nil {
				got = cfg.String()
			} else {
				var verr *ValidationError
				require.True(t, errors.As(err, &verr), "want *ValidationError, got %T: %v", err, err)
				got = verr.Format(file)
			}
			for _, secret := range append(valuesOf(goldenEnv), "hunter2") {
				assert.NotContains(t, got, secret)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "go test -update creates it")
			assert.Equal(t, string(want), got)
		})
	}
}

func valuesOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestProblemLines pins which line each kind of problem points at: a key's
// own problems at the key, a bad value at the value, a missing key at its
// section, and a key whose section is missing too nowhere.
func TestProblemLines(t *testing.T) {
	tests := []struct {
		name, yaml string
		path       string
		line       int
	}{
		{"unknown key", "taskip:\n  secret_key: k\n  timout: 1s\n", "taskip.timout", 3},
		{"duplicate key", "taskip:\n  secret_key: k\n  secret_key: k\n", "taskip.secret_key", 3},
		{"bad duration on the next line", "taskip:\n  secret_key: k\n  timeout:\n    soon\n", "taskip.timeout", 4},
		{"bad schedule on the next line", "taskip:\n  secret_key: k\n  poll_schedule:\n    \"@hourly x\"\n", "taskip.poll_schedule", 4},
		{"bad URL", "taskip:\n  secret_key: k\n  base_url:\n\n    example.com\n", "taskip.base_url", 5},
		{"empty value", "taskip:\n  secret_key: \"\"\n", "taskip.secret_key", 2},
		{"null value", "taskip:\n  secret_key:\n", "taskip.secret_key", 2},
		{"missing key points at its section", "# c\n\ntaskip:\n  timeout: 1s\n", "taskip.secret_key", 3},
		{"missing section has no line", "# c\n\nlog: {level: info}\n", "taskip.secret_key", 0},
		{"empty file", "", "taskip.secret_key", 0},
		{"cross-field problem points at the section", minimalYAML + "mail:\n  address: support@example.com\n  imap: {addr: \"i.example.com:993\", username: u, password: p}\n" +
			"  smtp:\n    addr: \"s.example.com:587\"\n    username: u\n", "mail.smtp.password", 8},
		{"list element", minimalYAML + validMail + "  allowed_list_ids:\n    - a\n    - \" \"\n", "mail.allowed_list_ids[1]", 12},
		{"map entry value", minimalYAML + validMail + "  senders:\n    ann@example.com:\n      0\n", "mail.senders[ann@example.com]", 12},
		{"secret from a file", "taskip:\n  timeout: 1s\n  secret_key_file:\n    empty\n", "taskip.secret_key", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), LoadOptions{Getenv: env(nil), ReadFile: func(string) ([]byte, error) { return []byte("\n"), nil }})
			probs := problems(t, err)
			p := findProblem(probs, tc.path)
			require.Contains(t, probs, p, "paths: %v", paths(probs))
			assert.Equal(t, tc.line, p.Line, "%s", p)
		})
	}
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadOptions injects the outside world so tests never touch the real
// environment or file system. Zero fields fall back to the os package.
type LoadOptions struct {
	// Getenv resolves ${VAR}; the bool reports whether VAR is set at all.
	Getenv func(name string) (string, bool)
	// ReadFile reads the config file and every *_file secret.
	ReadFile func(path string) ([]byte, error)
}

func (o LoadOptions) withDefaults() LoadOptions {
	if o.Getenv == nil {
		o.Getenv = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	return o
}

// Load reads, decodes, defaults and validates the file at path. Relative
// *_file paths resolve against the file's directory. Every problem found is
// returned at once as a *ValidationError; the config is nil then.
func Load(path string, opts LoadOptions) (*Config, error) {
	opts = opts.withDefaults()
	data, err := opts.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return parse(data, path, filepath.Dir(path), opts)
}

// Parse is Load for bytes already in memory; relative *_file paths resolve
// against the working directory.
func Parse(data []byte, opts LoadOptions) (*Config, error) {
	return parse(data, "", "", opts.withDefaults())
}

func parse(data []byte, file, baseDir string, opts LoadOptions) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		// A ValidationError like any other problem, so that it prints as
		// file:line too.
		return nil, newValidationError(file, []Problem{syntaxProblem(data, err)})
	}
	d := newDecoder(opts, baseDir)
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		// Not d.fail: the first document is still worth validating.
		d.probs = append(d.probs, syntaxProblem(data, err))
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		d.probs = append(d.probs, Problem{Line: extra.Line, Message: "only one YAML document is allowed"})
	}
	cfg := Default()
	if len(root.Content) > 0 {
		d.value(root.Content[0], reflect.ValueOf(&cfg).Elem(), "")
	}
	d.complete(&cfg)
	if len(d.secretFiles) > 0 {
		cfg.secretFiles = d.secretFiles
	}

	probs := d.probs
	for _, p := range cfg.problems() {
		if !d.covered(p.Path) {
			probs = append(probs, p)
		}
	}
	if len(probs) == 0 {
		return &cfg, nil
	}
	for i := range probs {
		if probs[i].Line == 0 {
			probs[i].Line = d.locate(probs[i].Path)
		}
	}
	return nil, newValidationError(file, probs)
}

// covered reports whether path or one of its parents already failed to
// decode; validating the leftover default would only repeat the problem.
func (d *decoder) covered(path string) bool {
	for p := path; ; {
		if d.failed[p] {
			return true
		}
		if p == "" {
			return false
		}
		p = p[:max(strings.LastIndexAny(p, ".["), 0)]
	}
}

// locate finds the line of path's value, which is where a bad value is to
// be fixed, or the key line of its nearest parent when the key is missing
// altogether (a required key points at its section). A key whose whole
// section is missing has no line: any line would be a guess.
func (d *decoder) locate(path string) int {
	if line, ok := d.values[path]; ok {
		return line
	}
	for p := path; p != ""; p = p[:max(strings.LastIndexAny(p, ".["), 0)] {
		if line, ok := d.lines[p]; ok {
			return line
		}
	}
	return 0
}

// complete fills defaults that depend on other keys and normalises values
// whose spelling does not matter.
func (d *decoder) complete(c *Config) {
	// The client appends "/support-ticket/..." to it.
	c.TaskIP.BaseURL = strings.TrimRight(c.TaskIP.BaseURL, "/")
	c.Log.Level = strings.ToLower(c.Log.Level)
	c.Log.Format = strings.ToLower(c.Log.Format)
	if m := c.Mail; m != nil {
		if m.SMTP.From == "" {
			m.SMTP.From = m.Address
		}
		if m.IMAP.TLS == "" {
			m.IMAP.TLS = tlsForPort(m.IMAP.Addr, "143")
		}
		if m.SMTP.TLS == "" {
			m.SMTP.TLS = tlsForPort(m.SMTP.Addr, "587", "25")
		}
		for _, a := range []*string{&m.IMAP.Auth, &m.SMTP.Auth} {
			if *a == "" {
				*a = AuthPassword
			}
		}
		o := &m.OAuth2
		for _, f := range []*string{&o.ClientCertificateFile, &o.ClientKeyFile, &o.ServiceAccountFile} {
			if *f != "" && !filepath.IsAbs(*f) && d.baseDir != "" {
				*f = filepath.Join(d.baseDir, *f)
			}
		}
		m.Senders = d.lowerKeys(m.Senders, "mail.senders")
	}
	if s := c.Slack; s != nil && s.APIURL != "" && !strings.HasSuffix(s.APIURL, "/") {
		// slack-go builds endpoints as APIURL + "chat.postMessage".
		s.APIURL += "/"
	}
}

// tlsForPort picks STARTTLS on the well-known plaintext ports and implicit
// TLS otherwise, so the unset default is never an unencrypted connection.
func tlsForPort(addr string, startTLSPorts ...string) TLSMode {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		for _, p := range startTLSPorts {
			if port == p {
				return TLSStartTLS
			}
		}
	}
	return TLSImplicit
}

// lowerKeys makes sender lookups case-insensitive; two spellings of one
// address with different ids would be ambiguous, so that is a problem.
func (d *decoder) lowerKeys(m map[string]int, path string) map[string]int {
	if m == nil {
		return nil
	}
	out := make(map[string]int, len(m))
	// Sorted so that which spelling is reported as the duplicate is stable.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		lk := strings.ToLower(strings.TrimSpace(k))
		from, to := path+"["+k+"]", path+"["+lk+"]"
		if line, ok := d.lines[from]; ok {
			d.lines[to], d.values[to] = line, d.values[from]
		}
		if _, dup := out[lk]; dup {
			d.fail(to, d.lines[from], "listed twice (addresses are compared lower-cased)")
			continue
		}
		if d.failed[from] {
			d.failed[to] = true
		}
		out[lk] = m[k]
	}
	return out
}

// expand replaces ${NAME} with the variable's value. Only the braced form is
// recognised so that a `$` in a password stays literal; `$${` writes a
// literal `${`. ok is false (and a problem recorded) for a malformed
// reference or an unset variable; expanded reports whether s changed.
func (d *decoder) expand(s, path string, line int) (out string, expanded, ok bool) {
	if !strings.Contains(s, "${") {
		return s, false, true
	}
	var b strings.Builder
	var missing []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 || !validVarName(s[i+2:i+2+end]) {
			d.fail(path, line, "malformed variable reference: write ${NAME} with letters, digits and _ (or $${ for a literal ${)")
			return "", false, false
		}
		name := s[i+2 : i+2+end]
		val, set := d.opts.Getenv(name)
		if !set {
			missing = append(missing, name)
		}
		b.WriteString(val)
		s = s[i+3+end:]
	}
	if len(missing) > 0 {
		msg := "environment variable %s is not set"
		if len(missing) > 1 {
			msg = "environment variables %s are not set"
		}
		d.fail(path, line, msg, strings.Join(missing, ", "))
		return "", false, false
	}
	return b.String(), true, true
}

func validVarName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks the YAML node tree against the Config type instead of
// letting yaml.v3 decode it: yaml.v3's KnownFields and type errors carry a
// line but no path, and its type errors quote the offending value, which
// may be a secret. Values are never quoted in a problem here.
type decoder struct {
	opts    LoadOptions
	baseDir string // where relative *_file paths resolve
	probs   []Problem
	lines   map[string]int  // path -> line of its key, to locate problems
	values  map[string]int  // path -> line of its value (later, for a block value)
	failed  map[string]bool // paths whose value could not be decoded
	// secretFiles records where each <key>_file secret came from.
	secretFiles map[string]string
}

var (
	secretType   = reflect.TypeOf(Secret(""))
	durationType = reflect.TypeOf(time.Duration(0))
	mailPtrType  = reflect.TypeOf((*Mail)(nil))
	slackPtrType = reflect.TypeOf((*Slack)(nil))
)

func newDecoder(opts LoadOptions, baseDir string) *decoder {
	return &decoder{opts: opts, baseDir: baseDir, lines: map[string]int{}, values: map[string]int{}, failed: map[string]bool{}, secretFiles: map[string]string{}}
}

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.probs = append(d.probs, Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
	d.failed[path] = true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// value decodes n into v. A null value leaves v untouched, so `idle:` with
// nothing after it keeps the default rather than silently becoming false.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	t := v.Type()
	switch {
	case t == durationType:
		d.scalar(n, v, path, "a duration such as 15s or 1m30s")
	case t.Kind() == reflect.String:
		if s, ok := d.str(n, path); ok {
			v.SetString(s)
		}
	case t.Kind() == reflect.Bool:
		d.scalar(n, v, path, "true or false")
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		d.scalar(n, v, path, "an integer")
	case t.Kind() == reflect.Map:
		d.intMap(n, v, path)
	case t.Kind() == reflect.Slice:
		d.list(n, v, path)
	case t.Kind() == reflect.Pointer:
		if n.Kind != yaml.MappingNode {
			d.fail(path, n.Line, "must be a mapping")
			return
		}
		if v.IsNil() {
			v.Set(newSection(t))
		}
		d.structure(n, v.Elem(), path)
	case t.Kind() == reflect.Struct:
		d.structure(n, v, path)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", t, path))
	}
}

// newSection allocates an optional section pre-filled with its defaults, so
// keys the file leaves out keep them.
func newSection(t reflect.Type) reflect.Value {
	switch t {
	case mailPtrType:
		m := DefaultMail()
		return reflect.ValueOf(&m)
	case slackPtrType:
		s := DefaultSlack()
		return reflect.ValueOf(&s)
	}
	return reflect.New(t.Elem())
}

// str returns a scalar's text with ${VAR} references expanded.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n.Line, "must be a string")
		return "", false
	}
	s, _, ok := d.expand(n.Value, path, n.Line)
	return s, ok
}

// scalar decodes a non-string scalar with yaml.v3's own rules. An expanded
// value is re-resolved as a plain scalar so `timeout: "${TIMEOUT}"` works.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path, want string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n.Line, "must be %s", want)
		return
	}
	s, expanded, ok := d.expand(n.Value, path, n.Line)
	if !ok {
		return
	}
	src := n
	if expanded {
		src = &yaml.Node{Kind: yaml.ScalarNode, Value: s, Line: n.Line}
	}
	tmp := reflect.New(v.Type())
	if err := src.Decode(tmp.Interface()); err != nil {
		d.fail(path, n.Line, "must be %s", want)
		return
	}
	v.Set(tmp.Elem())
}

type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys (<<: *anchor)
// applied, explicit keys winning, and reports duplicate keys, which yaml.v3
// only catches when it decodes into a map or struct itself.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(v, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "keys must be plain strings")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(join(path, k.Value), k.Line, "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k, v})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key.Line
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) mergePairs(n *yaml.Node, path string) []pair {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.pairs(n, path)
	case yaml.SequenceNode:
		var out []pair
		for _, m := range n.Content {
			out = append(out, d.mergePairs(m, path)...)
		}
		return out
	}
	d.fail(path, n.Line, "<< must merge a mapping")
	return nil
}

// structure decodes a mapping into a struct, accepting `<key>_file` for
// every Secret field.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "must be a mapping")
		return
	}
	fields := map[string]int{}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
		names = append(names, name)
		if v.Field(i).Type() == secretType {
			names = append(names, name+"_file")
		}
	}
	given := map[string]bool{}
	files := map[string]pair{}
	for _, p := range d.pairs(n, path) {
		key := p.key.Value
		kp := join(path, key)
		d.lines[kp], d.values[kp] = p.key.Line, p.val.Line
		if i, ok := fields[key]; ok {
			given[key] = true
			d.value(p.val, v.Field(i), kp)
			continue
		}
		if base, ok := strings.CutSuffix(key, "_file"); ok {
			if i, ok := fields[base]; ok && v.Field(i).Type() == secretType {
				files[base] = p
				continue
			}
		}
		d.fail(kp, p.key.Line, "unknown key%s", suggest(key, names))
	}
	bases := make([]string, 0, len(files))
	for b := range files {
		bases = append(bases, b)
	}
	sort.Strings(bases)
	for _, base := range bases {
		p, bp := files[base], join(path, base)
		if given[base] {
			d.fail(bp, p.key.Line, "set either %s or %s_file, not both", base, base)
			continue
		}
		// Validation reports the secret under its own path.
		d.lines[bp], d.values[bp] = p.key.Line, p.val.Line
		d.secretFile(p.val, v.Field(fields[base]), bp, join(path, p.key.Value))
	}
}

// secretFile reads a Docker/Kubernetes secret file into field. The problem
// names the file but never its content.
func (d *decoder) secretFile(n *yaml.Node, field reflect.Value, path, filePath string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	name, ok := d.str(n, filePath)
	if !ok {
		d.failed[path] = true
		return
	}
	if strings.TrimSpace(name) == "" {
		d.fail(filePath, n.Line, "must name a file")
		d.failed[path] = true
		return
	}
	if !filepath.IsAbs(name) && d.baseDir != "" {
		name = filepath.Join(d.baseDir, name)
	}
	data, err := d.opts.ReadFile(name)
	if err != nil {
		// PathError repeats the path; keep only its cause.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.fail(filePath, n.Line, "cannot read %s: %v", name, err)
		d.failed[path] = true
		return
	}
	field.SetString(strings.TrimRight(string(data), "\r\n"))
	d.secretFiles[path] = name
}

// intMap decodes senders and agents. Entry paths are written
// `mail.senders[john@acme.com]` because the keys themselves contain dots.
func (d *decoder) intMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "must be a mapping")
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, path) {
		kp := path + "[" + p.key.Value + "]"
		d.lines[kp], d.values[kp] = p.key.Line, p.val.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(p.val, elem, kp)
		m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// list decodes a sequence; each element is reported under path[i].
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n.Line, "must be a list")
		return
	}
	l := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.lines[ip], d.values[ip] = item.Line, item.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(item, elem, ip)
		l = reflect.Append(l, elem)
	}
	v.Set(l)
}

// suggest offers the closest known key for a typo such as `tsl`.
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, name := range names {
		if dist := editDistance(key, name); dist < bestDist && dist < len(key) {
			best, bestDist = name, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(", did you mean %q?", best)
}

// editDistance is the optimal-string-alignment distance, so a swapped pair
// of letters counts as one edit.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

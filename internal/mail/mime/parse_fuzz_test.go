package mime

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// addCorpusSeeds seeds a fuzz target with every corpus message; the nasty
// hand-made cases live in testdata/fuzz/<target>/ and go adds those itself.
func addCorpusSeeds(f *testing.F, add func(b []byte)) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

func FuzzParse(f *testing.F) {
	addCorpusSeeds(f, func(b []byte) { f.Add(b) })
	// One directory for all runs of this process (they are sequential):
	// a fresh one per run costs more than the parse, and checking it is
	// empty after each run proves Cleanup all the same.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// Small limits so the fuzzer reaches every limit path quickly.
		m, err := Parse(bytes.NewReader(data), ParseOptions{MaxMessageBytes: 64 << 10, MaxAttachmentBytes: 8 << 10, SpoolDir: dir})
		switch {
		case errors.Is(err, ErrMalformed):
			if m != nil {
				t.Fatal("ErrMalformed with a message")
			}
			return
		case errors.Is(err, ErrMessageTooLarge):
			if m == nil {
				t.Fatal("ErrMessageTooLarge without the message")
			}
		case err != nil:
			t.Fatalf("unexpected error from an in-memory reader: %v", err)
		}
		for name, s := range map[string]string{"Text": m.Text, "HTML": m.HTML, "Subject": m.Subject, "From.Name": m.From.Name, "Stripped": StripQuoted(m.Text)} {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not valid UTF-8: %q", name, s)
			}
		}
		if strings.ContainsRune(m.Text, 0) {
			t.Fatal("Text contains NUL")
		}
		for _, a := range m.Attachments {
			if a.Filename == "" || strings.ContainsAny(a.Filename, "/\\\x00") {
				t.Fatalf("unsafe attachment name %q", a.Filename)
			}
			if a.Size > 8<<10 {
				t.Fatalf("attachment %q over the limit kept: %d bytes", a.Filename, a.Size)
			}
		}
		if err := m.Cleanup(); err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Fatalf("Cleanup left %d spool files", len(left))
		}
	})
}

func FuzzStripQuoted(f *testing.F) {
	addCorpusSeeds(f, func(b []byte) {
		f.Add(string(b))
		if m, err := Parse(bytes.NewReader(b), ParseOptions{SpoolDir: f.TempDir()}); err == nil {
			f.Add(m.Text)
			m.Cleanup()
		}
	})
	f.Fuzz(func(t *testing.T, in string) {
		out := StripQuoted(in)
		if !utf8.ValidString(out) {
			t.Fatalf("output is not valid UTF-8: %q", out)
		}
		if len(out) > len(strings.TrimSpace(in)) {
			t.Fatalf("output longer than the trimmed input:\n in: %q\nout: %q", in, out)
		}
	})
}

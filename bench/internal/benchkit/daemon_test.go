package benchkit

import (
	"strings"
	"testing"
)

// The daemon's output arrives in chunks that split lines anywhere.
func TestOutputLines(t *testing.T) {
	o := &output{changed: make(chan struct{}, 1)}
	in := `{"level":"INFO","msg":"ticketsync running","http":"127.0.0.1:1"}` + "\n" +
		`{"level":"WARN","msg":"retrying"}` + "\n" +
		"panic: not json\n" +
		`{"level":"ERROR","msg":"no newline at exit"}`
	for b := []byte(in); len(b) > 0; { // 7-byte writes split lines anywhere
		n := min(7, len(b))
		if _, err := o.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	o.flush()

	if got := o.all.String(); got != in {
		t.Errorf("all = %q, want %q", got, in)
	}
	if e := o.find("ticketsync running"); e == nil || e["http"] != "127.0.0.1:1" {
		t.Errorf("find = %v", e)
	}
	wantNotes := []string{`{"level":"WARN","msg":"retrying"}`, "panic: not json", `{"level":"ERROR","msg":"no newline at exit"}`}
	if strings.Join(o.notes, "\n") != strings.Join(wantNotes, "\n") {
		t.Errorf("notes = %q, want %q", o.notes, wantNotes)
	}
	if e := o.find("panic: not json"); e == nil || e["level"] != "RAW" {
		t.Errorf("non-JSON line = %v, want a RAW entry", e)
	}
}

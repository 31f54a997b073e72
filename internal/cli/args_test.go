package cli

import (
	"flag"
	"slices"
	"strings"
	"testing"
)

func TestPermute(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("status", "", "")
	fs.Bool("json", false, "")
	var tags listFlag
	fs.Var(&tags, "tag", "")
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"flags first", []string{"--status", "open", "12", "text"}, []string{"--status", "open", "--", "12", "text"}},
		{"flags between", []string{"12", "--status", "open", "text"}, []string{"--status", "open", "--", "12", "text"}},
		{"flags last", []string{"12", "text", "--status", "open"}, []string{"--status", "open", "--", "12", "text"}},
		{"equals form", []string{"12", "--status=open", "text"}, []string{"--status=open", "--", "12", "text"}},
		{"single dash", []string{"12", "-status", "open"}, []string{"-status", "open", "--", "12"}},
		{"bool takes no value", []string{"--json", "12", "text"}, []string{"--json", "--", "12", "text"}},
		{"repeated", []string{"add", "--tag", "a", "1", "--tag", "b"}, []string{"--tag", "a", "--tag", "b", "--", "add", "1"}},
		{"double dash ends flags", []string{"12", "--", "--status", "-x"}, []string{"--", "12", "--status", "-x"}},
		{"lone dash is positional", []string{"-", "12"}, []string{"--", "-", "12"}},
		{"unknown flag passed alone", []string{"--bogus", "12"}, []string{"--bogus", "--", "12"}},
		{"value looks like a flag", []string{"--status", "--json", "12"}, []string{"--status", "--json", "--", "12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := permute(fs, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("permute(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPermuteMissingValue(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("status", "", "")
	if _, err := permute(fs, []string{"12", "--status"}); err == nil || err.Error() != "flag needs an argument: --status" {
		t.Errorf("err = %v", err)
	}
}

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ref
		wantErr bool
	}{
		{in: "46", want: ref{id: 46}},
		{in: "#46", want: ref{id: 46}},
		{in: "550e8400-e29b-41d4-a716-446655440045", want: ref{uuid: "550e8400-e29b-41d4-a716-446655440045"}},
		{in: "550E8400-E29B-41D4-A716-446655440045", want: ref{uuid: "550e8400-e29b-41d4-a716-446655440045"}},
		{in: "0", wantErr: true},
		{in: "-3", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "550e8400-e29b-41d4-a716", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseRef(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseRef(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("parseRef(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// TestFlagPositions runs the same command with its flags moved around and
// expects the same output and the same request on the wire.
func TestFlagPositions(t *testing.T) {
	for _, group := range []struct {
		name     string
		variants [][]string
	}{
		{"reply", [][]string{
			{"reply", "--status", "resolved", "45", "Fixed now."},
			{"reply", "45", "--status", "resolved", "Fixed now."},
			{"reply", "45", "Fixed now.", "--status", "resolved"},
			{"reply", "45", "--status=resolved", "Fixed now."},
			{"reply", "-status", "RESOLVED", "45", "Fixed now."},
		}},
		{"assign", [][]string{
			{"assign", "--reason", "specialist", "45", "8"},
			{"assign", "45", "--reason", "specialist", "8"},
			{"assign", "45", "8", "--reason", "specialist"},
		}},
		{"status", [][]string{
			{"status", "--notes", "done", "45", "closed"},
			{"status", "45", "--notes", "done", "closed"},
			{"status", "45", "closed", "--notes=done"},
			{"status", "45", "3", "--notes", "done"},
		}},
		{"bulk tags", [][]string{
			{"bulk", "--tag", "billing", "add_tags", "1", "--tag", "eu", "2"},
			{"bulk", "add_tags", "1", "2", "--tag", "billing", "--tag", "eu"},
			{"bulk", "add-tags", "--tag=billing", "1", "2", "--tag", "eu"},
		}},
		{"list", [][]string{
			{"list", "--status", "in_progress", "--limit", "2", "--json"},
			{"list", "--json", "--limit=2", "--status", "in-progress"},
			{"list", "--limit", "2", "--json", "--status", "1"},
		}},
		{"text after double dash", [][]string{
			{"note", "45", "--", "-5 degrees in the server room"},
			{"note", "--", "45", "-5 degrees in the server room"},
		}},
	} {
		t.Run(group.name, func(t *testing.T) {
			var firstOut, firstReq string
			for i, args := range group.variants {
				h := newHarness(t)
				out := h.mustRun(args...)
				reqs := h.fake.Requests()
				if len(reqs) == 0 {
					t.Fatalf("%q made no request", args)
				}
				last := reqs[len(reqs)-1]
				req := last.Method + " " + last.Path + "?" + last.Query.Encode() + " " + string(last.Body)
				if i == 0 {
					firstOut, firstReq = out, req
					continue
				}
				if out != firstOut {
					t.Errorf("%q printed\n%s\nbut %q printed\n%s", args, out, group.variants[0], firstOut)
				}
				if req != firstReq {
					t.Errorf("%q sent\n%s\nbut %q sent\n%s", args, req, group.variants[0], firstReq)
				}
			}
			if group.name == "text after double dash" && !strings.Contains(firstReq, `"-5 degrees in the server room"`) {
				t.Errorf("note text not sent as given: %s", firstReq)
			}
		})
	}
}

package taskip

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in   string
		want Status
		ok   bool
	}{
		{"open", StatusOpen, true},
		{"in_progress", StatusInProgress, true},
		{"in-progress", StatusInProgress, true},
		{"In Progress", StatusInProgress, true},
		{"  RESOLVED ", StatusResolved, true},
		{"closed", StatusClosed, true},
		{"Pending", StatusPending, true},
		{"4", StatusPending, true},
		{"0", StatusOpen, true},
		{"5", StatusUnknown, false},
		{"-1", StatusUnknown, false},
		{"done", StatusUnknown, false},
		{"", StatusUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStatus(tt.in)
			if !tt.ok {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "in_progress", "the error lists the accepted names")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParsePriority(t *testing.T) {
	for in, want := range map[string]Priority{"low": 0, "Normal": 1, "MEDIUM": 2, "high": 3, "urgent": 4, "3": 3} {
		got, err := ParsePriority(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParsePriority("critical")
	require.Error(t, err)
}

func TestCodeJSONForms(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Status
	}{
		{"integer", `1`, StatusInProgress},
		{"numeric string", `"1"`, StatusInProgress},
		{"snake name", `"in_progress"`, StatusInProgress},
		{"title name", `"In Progress"`, StatusInProgress},
		{"kebab name", `"in-progress"`, StatusInProgress},
		{"null is open", `null`, StatusOpen},
		{"unknown name kept as unknown", `"on_hold"`, StatusUnknown},
		{"out of range kept", `9`, Status(9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Status
			require.NoError(t, json.Unmarshal([]byte(tt.json), &s))
			assert.Equal(t, tt.want, s)
		})
	}
	var s Status
	assert.Error(t, json.Unmarshal([]byte(`true`), &s), "a boolean is not a code")
}

func TestCodesMarshalAsIntegers(t *testing.T) {
	p := PriorityUrgent
	s := StatusPending
	b, err := json.Marshal(TicketFields{Priority: &p, Status: &s})
	require.NoError(t, err)
	assert.JSONEq(t, `{"priority":4,"status":4}`, string(b))
}

func TestIDForms(t *testing.T) {
	for in, want := range map[string]ID{`12`: 12, `"12"`: 12, `null`: 0, `""`: 0} {
		var id ID
		require.NoError(t, json.Unmarshal([]byte(in), &id), in)
		assert.Equal(t, want, id, in)
	}
	var id ID
	assert.Error(t, json.Unmarshal([]byte(`"abc"`), &id))
}

func TestLabels(t *testing.T) {
	assert.Equal(t, "In Progress", StatusInProgress.Label())
	assert.Equal(t, "Urgent", PriorityUrgent.Label())
	assert.Equal(t, "unknown(9)", Status(9).String())
}

func TestIsUUID(t *testing.T) {
	assert.True(t, IsUUID("550e8400-e29b-41d4-a716-446655440001"))
	assert.False(t, IsUUID("46"))
	assert.False(t, IsUUID("550e8400-e29b-41d4-a716-44665544000g"))
	assert.False(t, IsUUID("550e8400e29b-41d4-a716-4466554400011"))
}

func TestPersonForms(t *testing.T) {
	for in, want := range map[string]Person{
		`{"id":1,"name":"A","email":"a@x"}`: {ID: 1, Name: "A", Email: "a@x"},
		`"Sarah Johnson"`:                   {Name: "Sarah Johnson"},
		`7`:                                 {ID: 7},
		`null`:                              {},
	} {
		var p Person
		require.NoError(t, json.Unmarshal([]byte(in), &p), in)
		assert.Equal(t, want, p, in)
	}
}

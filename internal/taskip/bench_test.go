package taskip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// page50 builds a list page shaped like the reference example, with the extra
// fields real servers send, so the benchmark decodes a realistic byte mix.
func page50(named bool) []byte {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := 1; i <= 50; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		prio, status := fmt.Sprint(i%5), fmt.Sprint(i%5)
		if named {
			prio, status = `"`+priorityNames[i%5]+`"`, `"`+statusNames[i%5]+`"`
		}
		fmt.Fprintf(&b, `{"id":%d,"uuid":"550e8400-e29b-41d4-a716-4466554%05d","subject":"Login issues with dashboard number %d",`+
			`"created_by":{"id":1,"name":"Admin User","email":"admin@taskip.com"},`+
			`"user":{"id":%d,"name":"John Smith","email":"john%d@acme.com"},"priority":%s,"status":%s,`+
			`"description":"User cannot access dashboard after password reset. Steps to reproduce are attached.",`+
			`"attachment":{"id":101,"url":"https://cdn.taskip.net/attachments/ticket-attachment.pdf","name":"screenshot.pdf","size":2048576},`+
			`"createAt":"2 hours ago","date":"15-Jan-2024","time":"09:30AM","created_at":"2024-01-15T09:30:00Z",`+
			`"updated_at":"2024-01-16T10:%02d:00Z","reply_count":%d,"assigned_to":8,"assigned_to_name":"David Chen"}`,
			i, i, i, 100+i, i, prio, status, i%60, i%7)
	}
	b.WriteString(`],"status":200,"meta":{"current_page":1,"per_page":50,"total":500,"total_pages":10}}`)
	return []byte(b.String())
}

func benchmarkDecodePage(b *testing.B, named bool) {
	data := page50(named)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var page TicketPage
		if err := decodeBody(bytes.NewReader(data), &page); err != nil {
			b.Fatal(err)
		}
		for i := range page.Tickets {
			page.Tickets[i].Normalize()
		}
		if len(page.Tickets) != 50 {
			b.Fatal("short page")
		}
	}
}

// BenchmarkDecodePage50 is the figure: one 50-ticket list page.
func BenchmarkDecodePage50(b *testing.B)      { benchmarkDecodePage(b, false) }
func BenchmarkDecodePage50Named(b *testing.B) { benchmarkDecodePage(b, true) }

func TestPage50Decodes(t *testing.T) {
	for _, named := range []bool{false, true} {
		var page TicketPage
		if err := decodeBody(bytes.NewReader(page50(named)), &page); err != nil {
			t.Fatal(err)
		}
		if got := page.Tickets[2].Status; got != StatusClosed {
			t.Fatalf("named=%v: status %v", named, got)
		}
	}
}

// BenchmarkDecodePage50Stdlib is the baseline: the same page through
// encoding/json's reflection (with the same lenient leaf decoders).
func BenchmarkDecodePage50Stdlib(b *testing.B) {
	data := page50(false)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var page reflectivePage
		if err := json.Unmarshal(data, &page); err != nil {
			b.Fatal(err)
		}
	}
}

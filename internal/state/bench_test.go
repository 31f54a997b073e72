package state

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkRecordMessage documents the cost of one committed write. With
// sync, every Update fsyncs twice (data, then meta page), so the number is
// the disk's flush latency; NoSync shows the CPU cost alone. Intake writes a
// few records per message, so the synced figure bounds messages per second.
func BenchmarkRecordMessage(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoSync=%t", noSync), func(b *testing.B) {
			clk := newClock()
			s := openStore(b, Config{Path: filepath.Join(b.TempDir(), "state.db"), Now: clk.Now, NoSync: noSync})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if err := s.RecordMessage(MessageRecord{
					MessageID: fmt.Sprintf("CAF%08d@mail.example.com", i), TicketUUID: "9f0c2a4e-1b7d-4c56-8e2f-3a9b0d1c2e3f",
					TicketID: int64(i), Action: "created",
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

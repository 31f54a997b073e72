package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordMessage(t *testing.T) {
	s, clk := newStore(t)
	at := time.Date(2026, 2, 27, 8, 30, 0, 0, time.FixedZone("CET", 3600))

	require.NoError(t, s.RecordMessage(MessageRecord{
		MessageID: " <CAF=x1@Mail.Gmail.com> ", TicketUUID: "u-1", TicketID: 42, Action: "created", At: at,
	}))
	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "loop@x", Action: "skipped:auto-submitted"}))

	s = reopen(t, s, clk)
	for _, tc := range []struct {
		name, lookup string
		want         MessageRecord
	}{
		{"bare", "CAF=x1@Mail.Gmail.com",
			MessageRecord{MessageID: "CAF=x1@Mail.Gmail.com", TicketUUID: "u-1", TicketID: 42, Action: "created", At: at.UTC()}},
		{"bracketed", "<CAF=x1@Mail.Gmail.com>",
			MessageRecord{MessageID: "CAF=x1@Mail.Gmail.com", TicketUUID: "u-1", TicketID: 42, Action: "created", At: at.UTC()}},
		{"skipped, zero At means now", "loop@x",
			MessageRecord{MessageID: "loop@x", Action: "skipped:auto-submitted", At: clk.Now()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := s.MessageTicket(tc.lookup)
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, tc.want, got)
		})
	}

	_, ok, err := s.MessageTicket("cAF=x1@mail.gmail.com")
	require.NoError(t, err)
	assert.False(t, ok, "case is preserved, so a different spelling is a different id")

	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "loop@x", TicketUUID: "u-9", Action: "replied"}))
	got, ok, err := s.MessageTicket("loop@x")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "u-9", got.TicketUUID, "a later record replaces the earlier one")

	assert.ErrorIs(t, s.RecordMessage(MessageRecord{MessageID: "<>"}), ErrInvalid)
	_, _, err = s.MessageTicket(" ")
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestRecordOutbound(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.RecordOutbound("<ts.u-1.1@support.example.com>", "u-1", 42))

	s = reopen(t, s, clk)
	uuid, id, ok, err := s.OutboundTicket("ts.u-1.1@support.example.com")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "u-1", uuid)
	assert.Equal(t, int64(42), id)

	uuid, id, ok, err = s.OutboundTicket("<unknown@x>")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, uuid)
	assert.Zero(t, id)

	// Inbound and outbound ids are separate maps.
	_, ok, err = s.MessageTicket("ts.u-1.1@support.example.com")
	require.NoError(t, err)
	assert.False(t, ok)

	assert.ErrorIs(t, s.RecordOutbound("", "u-1", 1), ErrInvalid)
	assert.ErrorIs(t, s.RecordOutbound("a@b", "", 0), ErrInvalid)
}

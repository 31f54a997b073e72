package mapping

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Each row reads as a sentence: who writes, what authentication says, how
// the mail found its ticket, and what it may do there.
func TestDecideIntakeSenderAuthentication(t *testing.T) {
	ticket := func(s taskip.Status) *Ticket {
		return &Ticket{ID: 7, UUID: "u-7", Status: s, CustomerEmail: "john@acme.com"}
	}
	pass := SenderAuth{Verdict: AuthPass, Reason: "dmarc=pass (mx.google.com)"}
	fail := SenderAuth{Verdict: AuthFail, Reason: "dmarc=fail (mx.google.com)"}
	for _, tc := range []struct {
		name     string
		from     string
		ctx      IntakeContext
		kind     ActionKind
		author   string
		noReopen bool
	}{
		{"authentication off: the customer's reply by subject tag, as ever",
			"john@acme.com", IntakeContext{Ticket: ticket(taskip.StatusOpen)}, ActReply, "client", false},
		{"authentication off: an agent's answer, as ever",
			"sarah@company.com", IntakeContext{Ticket: ticket(taskip.StatusOpen), SenderIsAgent: true}, ActReply, "team_member", false},
		{"a failing customer address is a note and reopens nothing",
			"john@acme.com", IntakeContext{Ticket: ticket(taskip.StatusClosed), Auth: fail, AuthOn: true}, ActNote, "", true},
		{"a failing sender is a note even with the reply token",
			"john@acme.com", IntakeContext{Ticket: ticket(taskip.StatusOpen), Auth: fail, AuthOn: true, ThreadProof: true}, ActNote, "", true},
		{"a failing agent address is a note",
			"sarah@company.com", IntakeContext{Ticket: ticket(taskip.StatusOpen), SenderIsAgent: true, Auth: fail, AuthOn: true}, ActNote, "", true},
		{"a fail counts even where authentication is not configured (own check)",
			"john@acme.com", IntakeContext{Ticket: ticket(taskip.StatusOpen), Auth: fail}, ActNote, "", true},
		{"a passing customer reopens a closed ticket",
			"john@acme.com", IntakeContext{Ticket: ticket(taskip.StatusClosed), Auth: pass, AuthOn: true}, ActReopenReply, "client", false},
		{"a passing agent answers the customer",
			"sarah@company.com", IntakeContext{Ticket: ticket(taskip.StatusOpen), SenderIsAgent: true, Auth: pass, AuthOn: true}, ActReply, "team_member", false},
		{"an unauthenticated agent does not, even with the reply token",
			"sarah@company.com", IntakeContext{Ticket: ticket(taskip.StatusOpen), SenderIsAgent: true, AuthOn: true, ThreadProof: true}, ActNote, "", true},
		{"an unauthenticated customer answering our mail (token, our Message-ID) replies",
			"john@acme.com", IntakeContext{Ticket: ticket(taskip.StatusResolved), AuthOn: true, ThreadProof: true}, ActReopenReply, "client", false},
		{"an unauthenticated customer naming the ticket by tag or bare uuid alone is a note",
			"john@acme.com", IntakeContext{Ticket: ticket(taskip.StatusResolved), AuthOn: true}, ActNote, "", true},
		{"a colleague in Cc stays a note",
			"boss@acme.com", IntakeContext{Ticket: ticket(taskip.StatusOpen), Auth: pass, AuthOn: true}, ActNote, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := customerMail()
			e.FromEmail = tc.from
			a := DecideIntake(e, tc.ctx)
			assert.Equal(t, tc.kind, a.Kind)
			assert.Equal(t, tc.author, a.AuthorType)
			assert.Equal(t, tc.noReopen, a.NoReopen)
			if a.Kind == ActNote && tc.noReopen {
				assert.Contains(t, a.Text, "unverified sender")
				assert.Contains(t, a.Text, "I cannot log in.", "the words are kept")
			}
		})
	}
}

// A new ticket from a sender that fails says so in its description; one
// that passes or is unknown reads as before.
func TestDecideIntakeNewTicketFromFailingSender(t *testing.T) {
	a := DecideIntake(customerMail(), IntakeContext{UserID: 3, Auth: SenderAuth{Verdict: AuthFail, Reason: "dmarc=fail (mx.google.com)"}, AuthOn: true})
	require.Equal(t, ActCreate, a.Kind)
	assert.True(t, strings.HasPrefix(a.Description, "(Unverified sender: dmarc=fail (mx.google.com)."), a.Description)
	assert.Contains(t, a.Description, "Message-ID: <abc@mail.example.net>", "reconciliation still finds it")
	a = DecideIntake(customerMail(), IntakeContext{UserID: 3, AuthOn: true})
	assert.NotContains(t, a.Description, "Unverified")
}

// Reply addresses carry a token only our key makes; a bare uuid or a
// wrong token is a plain plus address.
func TestThreadingReplyToken(t *testing.T) {
	th, err := NewThreading("support@example.com", "[#{{.UUID}}]")
	require.NoError(t, err)
	keyed := th.WithReplyKey([]byte("test-reply-key"))
	other := th.WithReplyKey([]byte("another-key"))
	const u = "550e8400-e29b-41d4-a716-446655440001"
	addr := keyed.ReplyAddress(strings.ToUpper(u))
	require.Regexp(t, `^support\+`+u+`\.[a-z2-7]{10}@example\.com$`, addr)
	assert.Equal(t, "support+"+u+"@example.com", th.ReplyAddress(u), "no key, no token")
	assert.NotEqual(t, addr, other.ReplyAddress(u))

	mail := func(to string) Email { e := customerMail(); e.To = []string{to}; return e }
	assert.Equal(t, []ThreadKey{{KeyReplyToken, u}}, keyed.Keys(mail(strings.ToUpper(addr))), "case does not matter")
	assert.Equal(t, []ThreadKey{{KeyPlusAddress, u}}, keyed.Keys(mail("support+"+u+"@example.com")), "a bare uuid proves nothing")
	assert.Equal(t, []ThreadKey{{KeyPlusAddress, u}}, keyed.Keys(mail(other.ReplyAddress(u))), "another key's token proves nothing")
	assert.Equal(t, []ThreadKey{{KeyPlusAddress, u}}, th.Keys(mail(addr)), "without a key no token is believed")
	e := customerMail()
	e.To = []string{"support+" + u + "@example.com"}
	e.Cc = []string{addr}
	assert.Equal(t, []ThreadKey{{KeyReplyToken, u}, {KeyPlusAddress, u}}, keyed.Keys(e), "the signed address is tried first")
}

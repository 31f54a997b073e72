package mapping

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

func customerMail() Email {
	return Email{
		MessageID: "abc@mail.example.net", FromName: "John Smith", FromEmail: "john@acme.com",
		To: []string{"support@example.com"}, ReturnPath: "<john@acme.com>", Subject: "Login broken",
		Text: "I cannot log in.\n\nOn Mon, someone wrote:\n> old", Stripped: "I cannot log in.",
	}
}

func TestScreen(t *testing.T) {
	s := Screening{OurAddresses: []string{"support@example.com", "noreply@example.com"}, AllowedListIDs: []string{"customers.acme.com"}}
	tests := []struct {
		name string
		edit func(*Email)
		want SkipReason
	}{
		{"a customer's mail passes", func(*Email) {}, ""},
		{"Auto-Submitted: auto-replied", func(e *Email) { e.AutoSubmitted = "auto-replied" }, SkipAutoSubmitted},
		{"Auto-Submitted: auto-generated with comment", func(e *Email) { e.AutoSubmitted = "auto-generated (vacation)" }, SkipAutoSubmitted},
		{"Auto-Submitted: no passes", func(e *Email) { e.AutoSubmitted = "No" }, ""},
		{"Precedence: bulk", func(e *Email) { e.Precedence = "bulk" }, SkipPrecedence},
		{"Precedence: junk", func(e *Email) { e.Precedence = "JUNK" }, SkipPrecedence},
		{"Precedence: list", func(e *Email) { e.Precedence = " list " }, SkipPrecedence},
		{"Precedence: first-class passes", func(e *Email) { e.Precedence = "first-class" }, ""},
		{"X-Autoreply", func(e *Email) { e.XAutoreply = "yes" }, SkipAutoreply},
		{"X-Autorespond", func(e *Email) { e.XAutorespond = "1" }, SkipAutoreply},
		{"List-Id not allowed", func(e *Email) { e.ListID = "Announce <announce.lists.example.org>" }, SkipMailingList},
		{"List-Id allowed", func(e *Email) { e.ListID = "Acme customers <customers.acme.com>" }, ""},
		{"allowed list's own Precedence: list", func(e *Email) { e.ListID = "<customers.acme.com>"; e.Precedence = "list" }, ""},
		{"allowed list's own Precedence: bulk", func(e *Email) { e.ListID = "<customers.acme.com>"; e.Precedence = "Bulk" }, ""},
		{"allowed list, Precedence: junk", func(e *Email) { e.ListID = "<customers.acme.com>"; e.Precedence = "junk" }, SkipPrecedence},
		{"other list, Precedence: list", func(e *Email) { e.ListID = "<announce.lists.example.org>"; e.Precedence = "list" }, SkipPrecedence},
		{"empty Return-Path", func(e *Email) { e.EmptyReturnPath = true; e.ReturnPath = "<>" }, SkipBounce},
		{"MAILER-DAEMON sender", func(e *Email) { e.FromEmail = "mailer-daemon@mx.acme.com" }, SkipBounce},
		{"postmaster sender", func(e *Email) { e.FromEmail = "Postmaster@acme.com" }, SkipBounce},
		{"multipart/report", func(e *Email) { e.ContentType = "multipart/report" }, SkipReport},
		{"our own address", func(e *Email) { e.FromEmail = "support@example.com" }, SkipOwnMessage},
		{"a plus variant of our address", func(e *Email) { e.FromEmail = "support+550e8400-e29b-41d4-a716-446655440001@example.com" }, SkipOwnMessage},
		{"our X-Ticketsync header", func(e *Email) { e.XTicketsync = true }, SkipOwnMessage},
		{"no sender at all", func(e *Email) { e.FromEmail = "" }, SkipNoSender},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := customerMail()
			tt.edit(&e)
			assert.Equal(t, tt.want, Screen(e, s))
		})
	}
}

func TestThreadingKeys(t *testing.T) {
	th, err := NewThreading("Support@Example.com", "[#{{.UUID}}]")
	require.NoError(t, err)
	const u1 = "550e8400-e29b-41d4-a716-446655440001"
	const u2 = "550e8400-e29b-41d4-a716-446655440002"
	tests := []struct {
		name string
		edit func(*Email)
		want []ThreadKey
	}{
		{"new conversation", func(*Email) {}, nil},
		{"In-Reply-To first, then References newest first", func(e *Email) {
			e.InReplyTo = []string{"c@x"}
			e.References = []string{"a@x", "b@x", "c@x"}
		}, []ThreadKey{{KeyMessageID, "c@x"}, {KeyMessageID, "b@x"}, {KeyMessageID, "a@x"}}},
		{"plus address in To", func(e *Email) { e.To = []string{"support+" + u1 + "@example.com"} }, []ThreadKey{{KeyPlusAddress, u1}}},
		{"plus address in Cc, upper case", func(e *Email) { e.Cc = []string{"SUPPORT+" + strings.ToUpper(u1) + "@EXAMPLE.COM"} }, []ThreadKey{{KeyPlusAddress, u1}}},
		{"plus address in Delivered-To", func(e *Email) { e.DeliveredTo = []string{"support+" + u1 + "@example.com"} }, []ThreadKey{{KeyPlusAddress, u1}}},
		{"plus address of another mailbox ignored", func(e *Email) { e.To = []string{"sales+" + u1 + "@example.com"} }, nil},
		{"plus tag that is not a uuid ignored", func(e *Email) { e.To = []string{"support+newsletter@example.com"} }, nil},
		{"subject tag", func(e *Email) { e.Subject = "Re: Login broken [#" + u2 + "]" }, []ThreadKey{{KeySubjectTag, u2}}},
		{"all three, in order", func(e *Email) {
			e.InReplyTo = []string{"m@x"}
			e.To = []string{"support+" + u1 + "@example.com"}
			e.Subject = "Re: x [#" + u2 + "]"
		}, []ThreadKey{{KeyMessageID, "m@x"}, {KeyPlusAddress, u1}, {KeySubjectTag, u2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := customerMail()
			tt.edit(&e)
			assert.Equal(t, tt.want, th.Keys(e))
		})
	}
	assert.Equal(t, "support+"+u1+"@example.com", th.ReplyAddress(strings.ToUpper(u1)))
	assert.Equal(t, "Login broken [#"+u1+"]", th.Tag("Login broken", 1, u1))
	assert.Equal(t, "Re: x [#"+u1+"]", th.Tag("Re: x [#"+u1+"]", 1, u1), "a tagged subject is not tagged twice")
}

func TestThreadingCustomTag(t *testing.T) {
	th, err := NewThreading("help@acme.io", "(Ticket {{.ID}} / {{.UUID}})")
	require.NoError(t, err)
	const u = "550e8400-e29b-41d4-a716-446655440046"
	subject := th.Tag("Printer", 46, u)
	assert.Equal(t, "Printer (Ticket 46 / "+u+")", subject)
	e := customerMail()
	e.Subject = "AW: " + subject
	assert.Equal(t, []ThreadKey{{KeySubjectTag, u}}, th.Keys(e))

	_, err = NewThreading("help@acme.io", "[#{{.ID}}]")
	assert.ErrorContains(t, err, "{{.UUID}}")
	_, err = NewThreading("not-an-address", "[#{{.UUID}}]")
	assert.Error(t, err)
}

func TestDecideIntake(t *testing.T) {
	open := &Ticket{ID: 7, UUID: "u-7", Status: taskip.StatusInProgress, CustomerEmail: "john@acme.com"}
	closed := &Ticket{ID: 8, UUID: "u-8", Status: taskip.StatusClosed, CustomerEmail: "john@acme.com"}
	resolved := &Ticket{ID: 9, UUID: "u-9", Status: taskip.StatusResolved, CustomerEmail: "john@acme.com"}
	tests := []struct {
		name  string
		edit  func(*Email)
		ctx   IntakeContext
		check func(t *testing.T, a Action)
	}{
		{"no thread: create with subject, text, sender, user", nil, IntakeContext{UserID: 15, CreatedBy: 1}, func(t *testing.T, a Action) {
			assert.Equal(t, ActCreate, a.Kind)
			assert.Equal(t, "Login broken", a.Subject)
			assert.True(t, strings.HasPrefix(a.Description, "I cannot log in.\n\nOn Mon, someone wrote:\n> old"), "a new ticket keeps the whole text")
			assert.Contains(t, a.Description, "From: John Smith <john@acme.com>")
			assert.Contains(t, a.Description, "Message-ID: <abc@mail.example.net>")
			assert.Equal(t, int64(15), a.UserID)
			assert.Equal(t, int64(1), a.CreatedBy)
			assert.Equal(t, taskip.PriorityNormal, a.Priority)
		}},
		{"create: subject reply prefixes stripped and cut to 191", func(e *Email) {
			e.Subject = "RE: Fwd: AW:  " + strings.Repeat("é", 300)
		}, IntakeContext{}, func(t *testing.T, a Action) {
			assert.Equal(t, 191, len([]rune(a.Subject)))
			assert.True(t, strings.HasPrefix(a.Subject, "éé"))
			assert.True(t, strings.HasSuffix(a.Subject, "…"))
		}},
		{"create: empty subject", func(e *Email) { e.Subject = "  " }, IntakeContext{}, func(t *testing.T, a Action) {
			assert.Equal(t, "(no subject)", a.Subject)
		}},
		{"create: X-Priority 1 is high", func(e *Email) { e.XPriority = "1 (Highest)" }, IntakeContext{}, func(t *testing.T, a Action) {
			assert.Equal(t, taskip.PriorityHigh, a.Priority)
		}},
		{"create: Importance low", func(e *Email) { e.Importance = "Low" }, IntakeContext{}, func(t *testing.T, a Action) {
			assert.Equal(t, taskip.PriorityLow, a.Priority)
		}},
		{"create: over the hourly limit is skipped", nil, IntakeContext{TicketsFromSender: 11, MaxTicketsPerHour: 10}, func(t *testing.T, a Action) {
			assert.Equal(t, ActSkip, a.Kind)
			assert.Equal(t, string(SkipRateLimited), a.Reason)
		}},
		{"create: at the hourly limit passes", nil, IntakeContext{TicketsFromSender: 10, MaxTicketsPerHour: 10}, func(t *testing.T, a Action) {
			assert.Equal(t, ActCreate, a.Kind)
		}},
		{"customer reply: stripped text", nil, IntakeContext{Ticket: open}, func(t *testing.T, a Action) {
			assert.Equal(t, ActReply, a.Kind)
			assert.Equal(t, "I cannot log in.", a.Text)
			assert.Equal(t, "client", a.AuthorType)
			assert.Equal(t, open, a.Ticket)
		}},
		{"customer reply that is all quote keeps the text", func(e *Email) { e.Stripped = " " }, IntakeContext{Ticket: open}, func(t *testing.T, a Action) {
			assert.Contains(t, a.Text, "> old")
		}},
		{"customer reply to a closed ticket reopens it", nil, IntakeContext{Ticket: closed}, func(t *testing.T, a Action) {
			assert.Equal(t, ActReopenReply, a.Kind)
			assert.Equal(t, taskip.StatusOpen, a.ReopenTo)
		}},
		{"customer reply to a resolved ticket reopens it", nil, IntakeContext{Ticket: resolved}, func(t *testing.T, a Action) {
			assert.Equal(t, ActReopenReply, a.Kind)
		}},
		{"customer address matched case-insensitively", func(e *Email) { e.FromEmail = "JOHN@acme.com" }, IntakeContext{Ticket: open}, func(t *testing.T, a Action) {
			assert.Equal(t, ActReply, a.Kind)
		}},
		{"a third party's mail becomes a note", func(e *Email) { e.FromEmail = "boss@acme.com"; e.FromName = "The Boss" }, IntakeContext{Ticket: open}, func(t *testing.T, a Action) {
			assert.Equal(t, ActNote, a.Kind)
			assert.Contains(t, a.Text, "The Boss <boss@acme.com> (not the ticket's customer)")
			assert.Contains(t, a.Text, "I cannot log in.")
		}},
		{"the requester's mail is a reply when the ticket's user is a catch-all", nil,
			IntakeContext{Ticket: &Ticket{ID: 10, UUID: "u-10", Status: taskip.StatusOpen, CustomerEmail: "inbox@company.com", Requester: "John@Acme.com"}},
			func(t *testing.T, a Action) {
				assert.Equal(t, ActReply, a.Kind)
				assert.Equal(t, "client", a.AuthorType)
			}},
		{"a third party's mail is a note on a catch-all ticket too", func(e *Email) { e.FromEmail = "boss@acme.com" },
			IntakeContext{Ticket: &Ticket{ID: 10, UUID: "u-10", Status: taskip.StatusOpen, CustomerEmail: "inbox@company.com", Requester: "john@acme.com"}},
			func(t *testing.T, a Action) { assert.Equal(t, ActNote, a.Kind) }},
		{"an agent's mail is a team member reply", func(e *Email) { e.FromEmail = "sarah@company.com" }, IntakeContext{Ticket: resolved, SenderIsAgent: true}, func(t *testing.T, a Action) {
			assert.Equal(t, ActReply, a.Kind, "an agent's answer does not reopen a resolved ticket")
			assert.Equal(t, "team_member", a.AuthorType)
		}},
		{"an agent's mail on a closed ticket reopens it", func(e *Email) { e.FromEmail = "sarah@company.com" }, IntakeContext{Ticket: closed, SenderIsAgent: true}, func(t *testing.T, a Action) {
			assert.Equal(t, ActReopenReply, a.Kind)
		}},
		{"refused attachments and problems become notes", func(e *Email) {
			e.Refused = []File{{Name: "video.mp4", Size: 40 << 20}}
			e.Problems = []string{"unknown charset x-foo"}
		}, IntakeContext{MaxMessageBytes: 25 << 20}, func(t *testing.T, a Action) {
			require.Len(t, a.ExtraNotes, 2)
			assert.Contains(t, a.ExtraNotes[0], `1 attachment of the email from john@acme.com was not uploaded`)
			assert.Contains(t, a.ExtraNotes[0], `"video.mp4" (40.0 MiB): it is over the 25.0 MiB limit`)
			assert.Contains(t, a.ExtraNotes[1], "unknown charset x-foo")
		}},
		{"many refused files make one note, each with its own reason", func(e *Email) {
			e.Refused = []File{{Name: "huge.iso", Size: 30 << 20, Reason: "larger than the 26214400 byte attachment limit"}}
			for i := range 400 {
				e.Refused = append(e.Refused, File{Name: fmt.Sprintf("tiny-%d.txt", i), Size: 1, Reason: "more than 100 attachments in one message"})
			}
		}, IntakeContext{MaxMessageBytes: 25 << 20}, func(t *testing.T, a Action) {
			require.Len(t, a.ExtraNotes, 1, "one note, not one per file")
			n := a.ExtraNotes[0]
			assert.Contains(t, n, "401 attachments of the email from john@acme.com were not uploaded")
			assert.Contains(t, n, `"huge.iso" (30.0 MiB): larger than the 26214400 byte attachment limit`)
			assert.Contains(t, n, `"tiny-0.txt" (1 bytes): more than 100 attachments in one message`)
			assert.NotContains(t, n, "over the 25.0 MiB limit", "each file's real reason")
			assert.Contains(t, n, "- and 381 more")
		}},
		{"a message over the size limit says so", func(e *Email) { e.TooLarge = true; e.Size = 30 << 20; e.Text = "" }, IntakeContext{MaxMessageBytes: 25 << 20}, func(t *testing.T, a Action) {
			assert.Contains(t, a.Description, "30.0 MiB, over the 25.0 MiB limit")
			assert.True(t, strings.HasPrefix(a.Description, "(This email"), "no text was read")
		}},
		{"attachments only", func(e *Email) { e.Text = ""; e.Stripped = ""; e.Attachments = []File{{Name: "a.png"}} }, IntakeContext{Ticket: open}, func(t *testing.T, a Action) {
			assert.Equal(t, "(no text; see the attached files)", a.Text)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := customerMail()
			if tt.edit != nil {
				tt.edit(&e)
			}
			tt.check(t, DecideIntake(e, tt.ctx))
		})
	}
}

func TestMailPriority(t *testing.T) {
	for in, want := range map[[2]string]taskip.Priority{
		{"1", ""}: taskip.PriorityHigh, {"2 (High)", ""}: taskip.PriorityHigh, {"3", "high"}: taskip.PriorityNormal,
		{"5 (Lowest)", ""}: taskip.PriorityLow, {"", "High"}: taskip.PriorityHigh, {"", ""}: taskip.PriorityNormal,
		{"urgent!", "low"}: taskip.PriorityLow,
	} {
		assert.Equal(t, want, MailPriority(in[0], in[1]), "%q", in)
	}
}

func TestDedupeKey(t *testing.T) {
	e := customerMail()
	assert.Equal(t, "abc@mail.example.net", DedupeKey(e))
	e.MessageID = ""
	e.Date = time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)
	k1 := DedupeKey(e)
	assert.True(t, strings.HasPrefix(k1, "sha256:"))
	assert.Equal(t, k1, DedupeKey(e), "stable")
	e.Text += "!"
	assert.NotEqual(t, k1, DedupeKey(e))
}

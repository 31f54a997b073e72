package bridge

// End-to-end scenarios of the inbound mail intake, written the way a real
// support team's mail arrives: several mails in sequence, real mail
// clients' headers, customers who are or are not TaskIP contacts, agents
// and colleagues answering by mail. Each test asserts what a helpdesk user
// expects per README "Mail intake".

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// onEachServer runs a scenario against go-imap's memory server and a real
// Dovecot (skipped where Dovecot is not installed, failed under CI).
func onEachServer(t *testing.T, run func(t *testing.T, mk envMaker)) {
	for _, server := range []string{"mem", "dovecot"} {
		t.Run(server, func(t *testing.T) { run(t, intakeServers[server]) })
	}
}

// scenarioMail builds a raw message from header lines and a body; every
// "\n" becomes "\r\n". Headers are written exactly as given.
func scenarioMail(headers []string, body string) []byte {
	var b strings.Builder
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

// scenarioWithAttachment is a text reply with one base64 attachment;
// extra are additional header lines (In-Reply-To, To, ...).
func scenarioWithAttachment(id, from, subject, text, filename string, content []byte, extra ...string) []byte {
	headers := []string{
		"Return-Path: <" + addrOf(from) + ">",
		"From: " + from,
		"Subject: " + subject,
		"Date: Tue, 16 Jan 2024 10:05:33 +0100",
		"Message-ID: <" + id + ">",
		"MIME-Version: 1.0",
		"Content-Type: multipart/mixed; boundary=\"=_scenario\"",
	}
	hasTo := false
	for _, h := range extra {
		hasTo = hasTo || strings.HasPrefix(h, "To:")
	}
	if !hasTo {
		headers = append(headers, "To: "+supportAddr)
	}
	headers = append(headers, extra...)
	var b strings.Builder
	b.WriteString("--=_scenario\nContent-Type: text/plain; charset=utf-8\n\n" + text + "\n--=_scenario\n")
	fmt.Fprintf(&b, "Content-Type: image/png; name=%q\nContent-Disposition: attachment; filename=%q\nContent-Transfer-Encoding: base64\n\n", filename, filename)
	enc := base64.StdEncoding.EncodeToString(content)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n--=_scenario--\n")
	return scenarioMail(headers, b.String())
}

// scenarioCatchAll seeds the catch-all contact that default_user_id names
// and makes it the intake's default user; it returns its id.
func scenarioCatchAll(e *intakeEnv) int {
	id := e.fake.SeedContact(taskipfake.Contact{Name: "Unknown sender", Email: "catchall@example.com"}).ID
	e.intake.cfg.DefaultUserID = int64(id)
	return id
}

// onlyTicket asserts exactly one new ticket and returns it.
func scenarioOnlyTicket(t *testing.T, e *intakeEnv) taskipfake.Ticket {
	t.Helper()
	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	return tickets[0]
}

func scenarioReplyTexts(rs []taskipfake.Reply) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.AuthorType+": "+r.Message)
	}
	return out
}

func scenarioNoteTexts(ns []taskipfake.Note) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Note)
	}
	return out
}

func scenarioNoIntents(t *testing.T, e *intakeEnv) {
	t.Helper()
	intents, err := e.store.Intents()
	require.NoError(t, err)
	assert.Empty(t, intents, "no unfinished intent left behind")
}

// ---------------------------------------------------------------------------

// A busy morning arrives in one poll: a contact opens a ticket, their boss
// answers all (Cc), the customer adds a detail, an agent answers by mail,
// the alias the customer also wrote to delivers a second copy of the first
// mail, and another customer opens a ticket of her own. Every write lands
// on the right ticket with the right author, in arrival order.
func TestScenarioIntakeBusyMorningInOneBatch(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		first := mailMsg("CAHx1=abc@mail.gmail.com", "John Smith <john@acme.com>", "VPN drops every 10 minutes",
			"Since this morning the VPN disconnects every ten minutes.\n\nJohn", "Cc: Boss <boss@acme.com>")
		e.deliver(first)
		e.deliver(mailMsg("boss-1@acme.com", "Boss <boss@acme.com>", "Re: VPN drops every 10 minutes",
			"This blocks the whole sales team, please prioritise.\n\nOn Tue, 16 Jan 2024 at 09:30, John Smith <john@acme.com> wrote:\n> Since this morning the VPN disconnects every ten minutes.\n",
			"In-Reply-To: <CAHx1=abc@mail.gmail.com>", "References: <CAHx1=abc@mail.gmail.com>", "Cc: John Smith <john@acme.com>"))
		// The same first mail again, as the sales@ alias forwarded it.
		dup := strings.Replace(string(first), "Return-Path:", "Delivered-To: support@example.com\r\nX-Original-To: sales@acme.com\r\nReturn-Path:", 1)
		e.deliver([]byte(dup))
		e.deliver(mailMsg("CAHx2=def@mail.gmail.com", "John Smith <john@acme.com>", "Re: VPN drops every 10 minutes",
			"It happens on Wi-Fi only.\n\nSent from my iPhone\n\n> On 16 Jan 2024, at 09:30, John Smith <john@acme.com> wrote:\n> Since this morning\n",
			"In-Reply-To: <CAHx1=abc@mail.gmail.com>"))
		e.deliver(mailMsg("sarah-1@company.com", "Sarah Johnson <Sarah@Company.com>", "RE: VPN drops every 10 minutes",
			"Hi John, please update the client to 5.2.\n\nSarah\n\n-----Original Message-----\nFrom: John Smith <john@acme.com>\nSent: Tuesday, January 16, 2024 9:31 AM\nTo: support@example.com\nSubject: Re: VPN drops every 10 minutes\n\nIt happens on Wi-Fi only.\n",
			"In-Reply-To: <CAHx2=def@mail.gmail.com>", "References: <CAHx1=abc@mail.gmail.com> <CAHx2=def@mail.gmail.com>"))
		e.deliver(mailMsg("emma-1@startup.com", "Emma Davis <emma@startup.com>", "Invoice 2024-001 charged twice", "We were charged twice."))
		e.cycle()

		tickets := e.newTickets()
		require.Len(t, tickets, 2, "the VPN ticket and Emma's; the rest thread, the alias copy is a duplicate")
		vpn, invoice := tickets[0], tickets[1]
		assert.Equal(t, "VPN drops every 10 minutes", vpn.Subject)
		require.NotNil(t, vpn.User)
		assert.Equal(t, 15, vpn.User.ID)
		assert.Equal(t, "Invoice 2024-001 charged twice", invoice.Subject)
		require.NotNil(t, invoice.User)
		assert.Equal(t, 18, invoice.User.ID)

		assert.Equal(t, []string{
			"client: It happens on Wi-Fi only.",
			"team_member: Hi John, please update the client to 5.2.\n\nSarah",
		}, scenarioReplyTexts(e.fake.Replies(vpn.ID)))
		notes := scenarioNoteTexts(e.fake.Notes(vpn.ID))
		require.Len(t, notes, 1, "the boss speaks internally, not for the customer")
		assert.Contains(t, notes[0], "boss@acme.com")
		assert.Contains(t, notes[0], "please prioritise")
		assert.NotContains(t, notes[0], "> Since this morning", "quoted history stripped from the note too")
		assert.Empty(t, e.fake.Replies(invoice.ID))

		msgs := e.assertAllSeen()
		assert.Equal(t, msgs[len(msgs)-1].UID, e.cursor().LastUID)
		scenarioNoIntents(t, e)

		e.cycle()
		assert.Len(t, e.newTickets(), 2, "a second pass writes nothing")
		assert.Len(t, e.fake.Replies(vpn.ID), 2)
	})
}

// A customer who is no TaskIP contact (filed under the catch-all) holds a
// whole conversation by mail: every way their client threads a reply lands
// as their reply, and their colleague's reply-all as a note.
func TestScenarioIntakeWalkInHoldsAConversation(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		catchAll := scenarioCatchAll(e)

		e.deliver(mailMsg("order-1@shop.example", "\"Meyer, Anna\" <Anna.Meyer@shop.example>", "Order 4711 not delivered", "Where is my order 4711?"))
		e.cycle()
		tk := scenarioOnlyTicket(t, e)
		require.NotNil(t, tk.User)
		assert.Equal(t, catchAll, tk.User.ID, "filed under the catch-all")
		assert.Contains(t, strings.ToLower(tk.Description), "anna.meyer@shop.example", "the sender is named in the description")

		// In-Reply-To her own mail; the subject tag; the plus address; and a
		// colleague answering all.
		e.deliver(mailMsg("order-2@shop.example", "Anna Meyer <anna.meyer@shop.example>", "Re: Order 4711 not delivered",
			"Tracking says returned to sender.", "In-Reply-To: <order-1@shop.example>"))
		e.deliver(mailMsg("order-3@shop.example", "Anna Meyer <ANNA.MEYER@SHOP.EXAMPLE>", "Re: Order 4711 not delivered [#"+strings.ToUpper(tk.UUID)+"]",
			"My address is Hauptstr. 1."))
		plus := mailMsg("order-4@shop.example", "Anna Meyer <anna.meyer@shop.example>", "Re: Order 4711", "Any news?")
		plus = []byte(strings.Replace(string(plus), "To: "+supportAddr, "To: \"Acme Support\" <support+"+tk.UUID+"@example.com>", 1))
		e.deliver(plus)
		e.deliver(mailMsg("order-5@shop.example", "Tom Meyer <tom@shop.example>", "Re: Order 4711 not delivered",
			"I can pick it up at the depot.", "In-Reply-To: <order-2@shop.example>", "Cc: anna.meyer@shop.example"))
		e.cycle()

		assert.Len(t, e.newTickets(), 1, "nothing starts a new ticket")
		assert.Equal(t, []string{
			"client: Tracking says returned to sender.",
			"client: My address is Hauptstr. 1.",
			"client: Any news?",
		}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
		notes := scenarioNoteTexts(e.fake.Notes(tk.ID))
		require.Len(t, notes, 1)
		assert.Contains(t, notes[0], "tom@shop.example")
		assert.Contains(t, notes[0], "pick it up at the depot")
		e.assertAllSeen()
	})
}

// A customer writes from a private address that the senders map files
// under their TaskIP contact, then once from their work address (the
// contact's own), then from the private one again. Both addresses are the
// customer: README "The customer is the ticket's TaskIP user or the
// address whose mail opened the ticket".
func TestScenarioIntakeSendersAliasStaysTheCustomer(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t, func(c *IntakeConfig, _ *imap.Config) {
			c.Senders = map[string]int64{"john.smith.home@gmail.example": 15}
		})
		e.deliver(mailMsg("home-1@gmail.example", "John Smith <john.smith.home@gmail.example>", "Printer offline", "The printer on floor 2 is offline."))
		e.cycle()
		tk := scenarioOnlyTicket(t, e)
		require.NotNil(t, tk.User)
		require.Equal(t, 15, tk.User.ID, "filed under John's contact by the senders map")

		e.deliver(mailMsg("work-1@acme.com", "John Smith <john@acme.com>", "Re: Printer offline", "Restarted it, no change.",
			"In-Reply-To: <home-1@gmail.example>"))
		e.cycle()
		e.deliver(mailMsg("home-2@gmail.example", "John Smith <john.smith.home@gmail.example>", "Re: Printer offline", "Now it prints again, thanks!",
			"In-Reply-To: <work-1@acme.com>"))
		e.cycle()

		assert.Equal(t, []string{
			"client: Restarted it, no change.",
			"client: Now it prints again, thanks!",
		}, scenarioReplyTexts(e.fake.Replies(tk.ID)), "the address that opened the ticket is still the customer")
		assert.Empty(t, scenarioNoteTexts(e.fake.Notes(tk.ID)), "no reply of the customer becomes a note")
	})
}

// A sender who was no contact got a ticket under the catch-all. An agent
// then adds them as a TaskIP contact. Their next, unrelated mail belongs
// to their own contact (the static senders map, else the TaskIP contact
// with that email, else what was learned from tickets seen).
func TestScenarioIntakeWalkInLaterMadeAContact(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		catchAll := scenarioCatchAll(e)

		e.deliver(mailMsg("lena-1@newco.example", "Lena Park <lena@newco.example>", "Trial extension", "Could you extend our trial?"))
		e.cycle()
		first := scenarioOnlyTicket(t, e)
		require.NotNil(t, first.User)
		require.Equal(t, catchAll, first.User.ID)

		lena := e.fake.SeedContact(taskipfake.Contact{Name: "Lena Park", Email: "lena@newco.example", CompanyName: "NewCo"})
		e.deliver(mailMsg("lena-2@newco.example", "Lena Park <lena@newco.example>", "Upgrade to the Team plan", "We want to buy 10 seats."))
		e.cycle()
		tickets := e.newTickets()
		require.Len(t, tickets, 2)
		require.NotNil(t, tickets[1].User)
		assert.Equal(t, lena.ID, tickets[1].User.ID, "the new ticket is filed under Lena's own contact, not the catch-all")
	})
}

// A colleague in Cc answers on a ticket the agents have closed. Their
// words must reach the ticket (a note) rather than vanish
// into the failed mailbox.
func TestScenarioIntakeColleagueWritesOnClosedTicket(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t, func(_ *IntakeConfig, c *imap.Config) { c.FailedMailbox = "Failed" })
		tk := createFirst(t, e)
		require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusClosed }))

		e.deliver(mailMsg("boss-closed@acme.com", "Boss <boss@acme.com>", "Re: Login broken",
			"Why was this closed? John still cannot log in.", "In-Reply-To: <first@acme.com>"))
		e.cycle()

		assert.Empty(t, e.imap.Messages(t, "Failed"), "not quarantined")
		assert.Empty(t, e.fake.Replies(tk.ID), "a third party never replies for the customer")
		notes := scenarioNoteTexts(e.fake.Notes(tk.ID))
		require.Len(t, notes, 1, "the colleague's words are kept on the ticket")
		assert.Contains(t, notes[0], "Why was this closed?")
	})
}

// A mail without a Message-ID (some web forms and scanners send them) is
// being turned into a ticket when the answer from TaskIP is lost. The next
// cycle must find that ticket instead of making a second one: a crash at
// any point loses no mail and creates no duplicate ticket.
func TestScenarioIntakeMailWithoutMessageIDLostCreateAnswer(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		e.deliver(mailMsg("", "Scanner <scanner@acme.com>", "Scanned document", "Scan attached as text: contract page 1."))
		e.fake.DropResponseNextOn(http.MethodPost, "/support-ticket", 1)
		require.Error(t, e.intake.Cycle(t.Context()))
		require.Len(t, e.newTickets(), 1, "TaskIP made the ticket; its answer was lost")

		e.cycle()
		assert.Len(t, e.newTickets(), 1, "reconciliation finds the ticket; no duplicate")
		e.assertAllSeen()
		scenarioNoIntents(t, e)
	})
}

// A customer's mail with a screenshot is made into a ticket, but the
// answer of the create is lost. The next cycle finds the ticket; the
// screenshot must still reach it: nothing is silently dropped, and a
// crash at any point loses no mail.
func TestScenarioIntakeAttachmentAfterLostCreateAnswer(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		e.deliver(scenarioWithAttachment("shot-1@acme.com", "John Smith <john@acme.com>", "Error on checkout",
			"See the screenshot.", "checkout.png", []byte(strings.Repeat("PNG", 500))))
		e.fake.DropResponseNextOn(http.MethodPost, "/support-ticket", 1)
		require.Error(t, e.intake.Cycle(t.Context()))
		e.cycle()

		tk := scenarioOnlyTicket(t, e)
		files := e.fake.Attachments(tk.ID)
		notes := scenarioNoteTexts(e.fake.Notes(tk.ID))
		assert.True(t, len(files) == 1 || len(notes) > 0,
			"the screenshot is uploaded, or a note says it was not; got files %v, notes %v", files, notes)
		if len(files) == 1 {
			assert.Equal(t, "checkout.png", files[0].Filename)
		}
	})
}

// Some mailers write the Message-ID without angle brackets; the customer's
// own follow-up then names it in In-Reply-To. The follow-up threads to the
// ticket ("In-Reply-To/References of a Message-ID we ... received").
func TestScenarioIntakeMessageIDWithoutBracketsThreads(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		raw := mailMsg("", "John Smith <john@acme.com>", "Server room too hot", "The AC in the server room failed.", "Message-ID: 20240116100533.4711@mailer.acme.com")
		e.deliver(raw)
		e.cycle()
		tk := scenarioOnlyTicket(t, e)

		e.deliver(mailMsg("follow-1@acme.com", "John Smith <john@acme.com>", "Re: Server room too hot", "Now 35 degrees.",
			"In-Reply-To: <20240116100533.4711@mailer.acme.com>"))
		e.cycle()
		assert.Len(t, e.newTickets(), 1, "the follow-up threads; no second ticket")
		assert.Equal(t, []string{"client: Now 35 degrees."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
	})
}

// HTML-only replies as Gmail and Outlook write them, quoted history and
// all, become the customer's words only ("Quoted history and signatures
// are cut"; HTML converted to text).
func TestScenarioIntakeHTMLOnlyRepliesFromRealClients(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		gmail := `<div dir="ltr">Thanks, that fixed it!<div><br></div><div>Best,</div><div>John</div></div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, Jan 16, 2024 at 10:05 AM Acme Support &lt;<a href="mailto:support@example.com">support@example.com</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex"><div>Please clear the browser cache and try again.</div></blockquote></div>`
		outlook := `<html><head><style>p.MsoNormal{margin:0cm}</style></head><body lang="EN-US"><div class="WordSection1"><p class="MsoNormal">Still failing on the second laptop.<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>` +
			`<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>From:</b> Acme Support &lt;support@example.com&gt; <br><b>Sent:</b> Tuesday, January 16, 2024 10:05 AM<br><b>To:</b> John Smith &lt;john@acme.com&gt;<br><b>Subject:</b> RE: Login broken</p></div>` +
			`<p class="MsoNormal">Please clear the browser cache and try again.</p></div></body></html>`
		tests := []struct{ name, html, want string }{
			{"gmail", gmail, "Thanks, that fixed it!\n\nBest,\nJohn"},
			{"outlook", outlook, "Still failing on the second laptop."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := mk(t)
				tk := createFirst(t, e)
				e.deliver(scenarioMail([]string{
					"Return-Path: <john@acme.com>", "From: John Smith <john@acme.com>", "To: " + supportAddr,
					"Subject: Re: Login broken [#" + tk.UUID + "]", "Date: Tue, 16 Jan 2024 11:00:00 +0100",
					"Message-ID: <html-" + tt.name + "@acme.com>", "In-Reply-To: <first@acme.com>",
					"MIME-Version: 1.0", "Content-Type: text/html; charset=\"utf-8\"", "Content-Transfer-Encoding: 8bit",
				}, tt.html))
				e.cycle()
				assert.Len(t, e.newTickets(), 1)
				replies := e.fake.Replies(tk.ID)
				require.Len(t, replies, 1)
				assert.Equal(t, tt.want, replies[0].Message)
				assert.Equal(t, "client", replies[0].AuthorType)
				assert.Empty(t, e.fake.Notes(tk.ID), "a clean mail leaves no problem note")
			})
		}
	})
}

// A new ticket from a mail with odd but valid headers: a folded,
// encoded-word subject, a quoted display name with a comma, an uppercase
// address, a Date with a zone comment and a Latin-1 quoted-printable body.
// The ticket reads as the customer wrote it and belongs to their contact;
// an answer to an uppercase plus address threads.
func TestScenarioIntakeOddButValidHeaders(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		e.deliver(scenarioMail([]string{
			"Return-Path: <JOHN@ACME.COM>",
			"Received: from mx.acme.com by mx.example.com; Tue, 16 Jan 2024 10:05:34 +0100",
			`From: "Smith, John (IT)" <JOHN@ACME.COM>`,
			`To: "Support, Acme" <support@example.com>, "O'Brien, Pat" <pat@acme.com>`,
			"Subject: =?UTF-8?Q?AW:_Rechnung_f=C3=BCr_M=C3=A4rz?=\r\n =?UTF-8?Q?_ist_doppelt_abgebucht?=",
			"Date: Tue, 16 Jan 2024 10:05:33 +0100 (CET)",
			"Message-ID: <odd-1@ACME.COM>",
			"Importance: High",
			"MIME-Version: 1.0",
			"Content-Type: text/plain; charset=\"iso-8859-1\"",
			"Content-Transfer-Encoding: quoted-printable",
		}, "Gr=FC=DFe, die Rechnung f=FCr M=E4rz wurde zweimal abgebucht.\n"))
		e.cycle()
		tk := scenarioOnlyTicket(t, e)
		assert.Equal(t, "Rechnung für März ist doppelt abgebucht", tk.Subject)
		assert.Contains(t, tk.Description, "Grüße, die Rechnung für März wurde zweimal abgebucht.")
		assert.Contains(t, tk.Description, "Smith, John (IT)")
		assert.Equal(t, taskipfake.PriorityHigh, tk.Priority)
		require.NotNil(t, tk.User)
		assert.Equal(t, 15, tk.User.ID, "the contact john@acme.com")
		assert.Empty(t, scenarioNoteTexts(e.fake.Notes(tk.ID)), "valid headers raise no problem note")

		e.deliver(scenarioMail([]string{
			"Return-Path: <john@acme.com>", `From: "Smith, John (IT)" <John@Acme.com>`,
			"To: \"Acme Support\" <SUPPORT+" + strings.ToUpper(tk.UUID) + "@EXAMPLE.COM>",
			"Subject: AW: Rechnung", "Date: Tue, 16 Jan 2024 12:00:00 +0100", "Message-ID: <odd-2@acme.com>",
			"Content-Type: text/plain; charset=utf-8",
		}, "Bitte um Gutschrift.\n\nAm 16.01.2024 um 10:05 schrieb Acme Support <support@example.com>:\n> Wir prüfen das.\n"))
		e.cycle()
		assert.Len(t, e.newTickets(), 1)
		assert.Equal(t, []string{"client: Bitte um Gutschrift."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
	})
}

// The customer answers with a screenshot attached: the text is their
// reply and the file goes to the same ticket; no new ticket.
func TestScenarioIntakeReplyWithScreenshot(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		tk := createFirst(t, e)
		shot := []byte(strings.Repeat("\x89PNG-data", 300))
		e.deliver(scenarioWithAttachment("shot-reply@acme.com", "John Smith <john@acme.com>", "Re: Login broken",
			"This is the error I get.\n\nOn Tue, 16 Jan 2024 at 10:05, Acme Support <support@example.com> wrote:\n> Can you send a screenshot?",
			"error.png", shot, "In-Reply-To: <first@acme.com>"))
		e.cycle()
		assert.Len(t, e.newTickets(), 1)
		assert.Equal(t, []string{"client: This is the error I get."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
		files := e.fake.Attachments(tk.ID)
		require.Len(t, files, 1)
		assert.Equal(t, "error.png", files[0].Filename)
		assert.Equal(t, int64(len(shot)), files[0].Size)
	})
}

// Statuses a customer's mail finds the ticket in: resolved and pending
// reopen ("the ball is back with the agents"); an agent answering by mail
// a resolved ticket leaves it resolved and speaks as the team.
func TestScenarioIntakeStatusesOnReply(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		for _, tc := range []struct {
			name   string
			status int
		}{
			{"resolved", taskipfake.StatusResolved},
			{"pending", taskipfake.StatusPending},
			{"closed", taskipfake.StatusClosed},
		} {
			t.Run("customer on "+tc.name, func(t *testing.T) {
				e := mk(t)
				tk := createFirst(t, e)
				require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = tc.status }))
				e.deliver(mailMsg("st-"+tc.name+"@acme.com", "John Smith <john@acme.com>", "Re: Login broken [#"+tk.UUID+"]", "It is broken again."))
				e.cycle()
				after, _ := e.fake.Ticket(tk.ID)
				assert.Equal(t, taskipfake.StatusOpen, after.Status)
				assert.Equal(t, []string{"client: It is broken again."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
			})
		}
		t.Run("agent on resolved", func(t *testing.T) {
			e := mk(t)
			tk := createFirst(t, e)
			require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusResolved }))
			e.deliver(mailMsg("agent-res@company.com", "David Chen <david@company.com>", "RE: Login broken [#"+tk.UUID+"]",
				"For the record: root cause was an expired certificate.\n\n-- \nDavid Chen\nEmail Systems"))
			e.cycle()
			after, _ := e.fake.Ticket(tk.ID)
			assert.Equal(t, taskipfake.StatusResolved, after.Status)
			assert.Equal(t, []string{"team_member: For the record: root cause was an expired certificate."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
		})
	})
}

// Tickets made in the TaskIP web app (never seen by mail) are answered by
// mail through the subject tag or plus address of the agents' emails.
func TestScenarioIntakeWebAppTicketsAnsweredByMail(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		t45, _ := e.fake.Ticket(45) // Emma's, in progress
		t3, _ := e.fake.Ticket(3)   // John's, closed
		e.deliver(mailMsg("emma-45@startup.com", "Emma Davis <emma@startup.com>", "Re: Email Notifications Not Working [#"+t45.UUID+"]",
			"Order emails arrive again since 11:00.\n\nEmma Davis\nFounder, Startup Inc"))
		plus := mailMsg("john-3@acme.com", "John Smith <john@acme.com>", "Re: Invoice PDF shows wrong currency",
			"The March invoice shows USD again.")
		plus = []byte(strings.Replace(string(plus), "To: "+supportAddr, "To: support@example.com\r\nCc: <support+"+t3.UUID+"@example.com>", 1))
		e.deliver(plus)
		e.deliver(mailMsg("mike-45@techcorp.com", "Mike Wilson <mike@techcorp.com>", "Re: Email Notifications Not Working [#"+t45.UUID+"]",
			"We see the same at TechCorp."))
		e.cycle()

		assert.Empty(t, e.newTickets(), "no new ticket")
		r45 := e.fake.Replies(45)
		require.Len(t, r45, 3, "two seeded replies and Emma's")
		assert.Equal(t, "client", r45[2].AuthorType)
		assert.Contains(t, r45[2].Message, "Order emails arrive again since 11:00.")
		n45 := scenarioNoteTexts(e.fake.Notes(45))
		require.Len(t, n45, 2, "the seeded note and Mike's")
		assert.Contains(t, n45[1], "We see the same at TechCorp.")

		after3, _ := e.fake.Ticket(3)
		assert.Equal(t, taskipfake.StatusOpen, after3.Status, "the closed ticket reopens")
		assert.Equal(t, []string{"client: The March invoice shows USD again."}, scenarioReplyTexts(e.fake.Replies(3)))
	})
}

// An agent deleted the ticket; the customer answers the old thread anyway.
// "A thread to a deleted ticket starts a new one."
func TestScenarioIntakeReplyToDeletedTicketStartsANewOne(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		tk := createFirst(t, e)
		require.NoError(t, e.fake.Delete(tk.ID))
		e.deliver(mailMsg("after-delete@acme.com", "John Smith <john@acme.com>", "Re: Login broken [#"+tk.UUID+"]",
			"Hello? Nobody answered.", "In-Reply-To: <first@acme.com>", "References: <first@acme.com>"))
		e.cycle()
		tickets := e.newTickets()
		require.Len(t, tickets, 1, "the deleted ticket is gone; a new one is made")
		assert.NotEqual(t, tk.ID, tickets[0].ID)
		assert.Contains(t, tickets[0].Subject, "Login broken")
		assert.NotContains(t, tickets[0].Subject, "Re:")
		assert.Contains(t, tickets[0].Description, "Hello? Nobody answered.")
		require.NotNil(t, tickets[0].User)
		assert.Equal(t, 15, tickets[0].User.ID)
		e.assertAllSeen()
	})
}

// The rate limit is on new tickets: a customer answering their own ticket
// many times within the hour is never cut off.
func TestScenarioIntakeRepliesDoNotCountTowardsTheRateLimit(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t, func(c *IntakeConfig, _ *imap.Config) { c.MaxTicketsPerHour = 2 })
		e.deliver(mailMsg("rl-1@acme.com", "John Smith <john@acme.com>", "Outage site A", "Site A is down."))
		for i := range 5 {
			e.deliver(mailMsg(fmt.Sprintf("rl-r%d@acme.com", i), "John Smith <john@acme.com>", "Re: Outage site A",
				fmt.Sprintf("Update %d: still down.", i), "In-Reply-To: <rl-1@acme.com>"))
		}
		e.deliver(mailMsg("rl-2@acme.com", "John Smith <john@acme.com>", "Outage site B", "Site B is down too."))
		e.deliver(mailMsg("rl-3@acme.com", "John Smith <john@acme.com>", "Outage site C", "And site C."))
		e.cycle()
		tickets := e.newTickets()
		require.Len(t, tickets, 2, "two new tickets per hour; the third is held back by the loop guard")
		assert.Equal(t, "Outage site A", tickets[0].Subject)
		assert.Equal(t, "Outage site B", tickets[1].Subject)
		assert.Len(t, e.fake.Replies(tickets[0].ID), 5, "every reply lands")
		rec, ok, err := e.store.MessageTicket("rl-3@acme.com")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, "skip:rate_limited", rec.Action)
	})
}

// A walk-in's mail is acknowledged to the walk-in (not to the catch-all
// contact); their out-of-office to the acknowledgement is dropped; their
// real answer to it (In-Reply-To our Message-ID) is their reply, and a
// reply is never acknowledged.
func TestScenarioIntakeAnswerToAcknowledgement(t *testing.T) {
	// The outbox env runs on the memory server only.
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.AckInterval = 0 })
	scenarioCatchAll(e.intakeEnv)
	e.start()

	e.deliver(mailMsg("ack-1@shop.example", "Anna Meyer <anna.meyer@shop.example>", "Refund for order 4711", "Please refund order 4711."))
	e.cycle()
	tk := scenarioOnlyTicket(t, e.intakeEnv)
	ackMail := e.waitDelivered(1)[0]
	assert.Equal(t, []string{"anna.meyer@shop.example"}, ackMail.To, "acknowledged to the sender")
	ack := header(t, ackMail)

	e.deliver(mailMsg("ack-ooo@shop.example", "Anna Meyer <anna.meyer@shop.example>", "Automatic reply: "+ack.Get("Subject"),
		"I am out of the office until Monday.", "Auto-Submitted: auto-generated", "X-Auto-Response-Suppress: All",
		"In-Reply-To: "+ack.Get("Message-ID")))
	e.deliver(mailMsg("ack-2@shop.example", "Anna Meyer <anna.meyer@shop.example>", "Re: "+ack.Get("Subject"),
		"The order number is 4711-B, sorry.\n\nOn Tue, 16 Jan 2024 at 10:05, Acme Support <support@example.com> wrote:\n> We received your request.",
		"In-Reply-To: "+ack.Get("Message-ID"), "References: <ack-1@shop.example> "+ack.Get("Message-ID")))
	e.cycle()
	assert.Len(t, e.newTickets(), 1)
	assert.Equal(t, []string{"client: The order number is 4711-B, sorry."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
	assert.Empty(t, e.fake.Notes(tk.ID))
	e.settled()
	assert.Len(t, e.smtp.Messages(), 1, "no acknowledgement of the reply or of the auto-reply")
}

// The customer sends one reply to support+<uuid>@ with support@ in Cc:
// the mailbox receives two copies with the same Message-ID, one in this
// poll and one (delayed) in the next. One reply.
func TestScenarioIntakeReplyDeliveredTwiceViaTwoAddresses(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		tk := createFirst(t, e)
		base := mailMsg("twice@acme.com", "John Smith <john@acme.com>", "Re: Login broken", "Works on Chrome, not on Firefox.")
		toPlus := strings.Replace(string(base), "To: "+supportAddr, "To: support+"+tk.UUID+"@example.com\r\nCc: support@example.com", 1)
		copyA := "Delivered-To: support+" + tk.UUID + "@example.com\r\n" + toPlus
		copyB := "Delivered-To: support@example.com\r\nX-Original-To: support@example.com\r\n" + toPlus
		e.deliver([]byte(copyA))
		e.deliver([]byte(copyB))
		e.cycle()
		e.deliver([]byte(copyB))
		e.cycle()
		assert.Len(t, e.newTickets(), 1)
		assert.Equal(t, []string{"client: Works on Chrome, not on Firefox."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
		e.assertAllSeen()
	})
}

// A customer's phone mailer sends no Message-ID. Two different replies
// without one both land, in order; re-reading the mailbox (a changed
// UIDVALIDITY) repeats neither.
func TestScenarioIntakeRepliesWithoutMessageID(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		tk := createFirst(t, e)
		e.deliver(mailMsg("", "John Smith <john@acme.com>", "Re: Login broken [#"+tk.UUID+"]", "First: password reset did not help."))
		e.deliver(mailMsg("", "John Smith <john@acme.com>", "Re: Login broken [#"+tk.UUID+"]", "Second: the 2FA code is refused."))
		e.cycle()
		assert.Equal(t, []string{
			"client: First: password reset did not help.",
			"client: Second: the 2FA code is refused.",
		}, scenarioReplyTexts(e.fake.Replies(tk.ID)))

		cur := e.cursor()
		require.NoError(t, e.store.SetCursor("INBOX", state.Cursor{UIDValidity: cur.UIDValidity + 7}))
		e.cycle()
		assert.Len(t, e.fake.Replies(tk.ID), 2, "no repeats after a rescan")
		assert.Len(t, e.newTickets(), 1)
	})
}

// A walk-in writes twice in quick succession: their second mail answers
// the first and is read ahead while the first is being made into a ticket
// (one message per batch). It is their reply, not a note.
func TestScenarioIntakeWalkInFollowUpReadAhead(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t, oneMessagePerBatch)
		scenarioCatchAll(e)
		e.deliver(mailMsg("fast-1@shop.example", "Anna Meyer <anna.meyer@shop.example>", "Wrong size delivered", "I got size M instead of L."))
		e.deliver(mailMsg("fast-2@shop.example", "Anna Meyer <anna.meyer@shop.example>", "Re: Wrong size delivered", "Order 4711.",
			"In-Reply-To: <fast-1@shop.example>"))
		e.deliver(mailMsg("fast-3@shop.example", "Anna Meyer <anna.meyer@shop.example>", "Re: Wrong size delivered", "Photo of the label follows.",
			"In-Reply-To: <fast-2@shop.example>", "References: <fast-1@shop.example> <fast-2@shop.example>"))
		e.cycle()
		tk := scenarioOnlyTicket(t, e)
		assert.Equal(t, []string{"client: Order 4711.", "client: Photo of the label follows."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
		assert.Empty(t, e.fake.Notes(tk.ID))
		scenarioNoIntents(t, e)
	})
}

// A new colleague, Kim, answers a ticket by mail before she has a TaskIP
// account (a note, rightly). An hour later she has been added as a team
// member; her next answer by mail is an agent reply ("A team member
// answering by mail posts an agent reply").
func TestScenarioIntakeNewTeamMemberAnswersByMail(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		var offset atomic.Int64
		e := mk(t, withClockOffset(&offset))
		tk := createFirst(t, e)
		e.deliver(mailMsg("kim-1@company.com", "Kim Lee <kim@company.com>", "Re: Login broken", "Looking into it.", "In-Reply-To: <first@acme.com>"))
		e.cycle()
		require.Len(t, e.fake.Notes(tk.ID), 1, "not yet a team member: a note")

		e.fake.SeedTeamMember(taskipfake.TeamMember{Name: "Kim Lee", Email: "kim@company.com", Role: "agent"})
		offset.Add(int64(time.Hour))
		e.deliver(mailMsg("kim-2@company.com", "Kim Lee <kim@company.com>", "Re: Login broken", "Fixed: your account was locked; unlocked it.",
			"In-Reply-To: <first@acme.com>"))
		e.cycle()
		assert.Equal(t, []string{"team_member: Fixed: your account was locked; unlocked it."}, scenarioReplyTexts(e.fake.Replies(tk.ID)),
			"now a team member: an agent reply")
		assert.Len(t, e.fake.Notes(tk.ID), 1)
	})
}

// Attachment names as Outlook (encoded-word in quotes) and Thunderbird
// (RFC 2231) write non-ASCII names arrive decoded.
func TestScenarioIntakeAttachmentNamesWithUmlauts(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		body := "--b1\nContent-Type: text/plain; charset=utf-8\n\nBeide Rechnungen anbei.\n" +
			"--b1\nContent-Type: application/pdf; name=\"=?utf-8?Q?Rechnung_M=C3=A4rz.pdf?=\"\nContent-Disposition: attachment; filename=\"=?utf-8?Q?Rechnung_M=C3=A4rz.pdf?=\"\nContent-Transfer-Encoding: base64\n\n" +
			base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 march")) + "\n" +
			"--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''Gutschrift%20f%C3%BCr%20April.pdf\nContent-Transfer-Encoding: base64\n\n" +
			base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 april")) + "\n--b1--\n"
		e.deliver(scenarioMail([]string{
			"Return-Path: <john@acme.com>", "From: John Smith <john@acme.com>", "To: " + supportAddr,
			"Subject: Rechnungen", "Date: Tue, 16 Jan 2024 10:05:33 +0100", "Message-ID: <umlaut-att@acme.com>",
			"MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"b1\"",
		}, body))
		e.cycle()
		tk := scenarioOnlyTicket(t, e)
		var names []string
		for _, f := range e.fake.Attachments(tk.ID) {
			names = append(names, f.Filename)
		}
		assert.ElementsMatch(t, []string{"Rechnung März.pdf", "Gutschrift für April.pdf"}, names)
		assert.Empty(t, scenarioNoteTexts(e.fake.Notes(tk.ID)))
	})
}

// A walk-in wrote from her private address and the ticket went to the
// catch-all; the agent then files the ticket under her company contact in
// the web app. She answers once from work and later from the private
// address again: both are the customer (the TaskIP user, and the address
// whose mail opened the ticket).
func TestScenarioIntakeRefiledTicketKeepsTheRequester(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		scenarioCatchAll(e)
		work := e.fake.SeedContact(taskipfake.Contact{Name: "Anna Meyer", Email: "anna.meyer@shop-company.example"})

		e.deliver(mailMsg("ref-1@private.example", "Anna Meyer <anna1985@private.example>", "Shop login", "I cannot log in to the shop admin."))
		e.cycle()
		tk := scenarioOnlyTicket(t, e)
		require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) {
			t.User = &taskipfake.Person{ID: work.ID, Name: work.Name, Email: work.Email}
		}))

		e.deliver(mailMsg("ref-2@shop-company.example", "Anna Meyer <anna.meyer@shop-company.example>", "Re: Shop login",
			"From the office it fails too.", "In-Reply-To: <ref-1@private.example>"))
		e.cycle()
		e.deliver(mailMsg("ref-3@private.example", "Anna Meyer <anna1985@private.example>", "Re: Shop login",
			"Works now, thank you!", "In-Reply-To: <ref-2@shop-company.example>"))
		e.cycle()

		assert.Equal(t, []string{
			"client: From the office it fails too.",
			"client: Works now, thank you!",
		}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
		assert.Empty(t, scenarioNoteTexts(e.fake.Notes(tk.ID)))
	})
}

// A big customer has many addresses that end like li@bigcorp.example; the
// contact li@bigcorp.example itself was added last. Her mail still goes to
// her contact ("else the TaskIP contact with that email").
func TestScenarioIntakeContactAmongLookalikeAddresses(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		for _, local := range []string{"ali", "eli", "anna.li", "wang.li", "xiaoli", "zhang.li", "chen.li", "natali", "rosali", "kali", "vitali", "julie.li"} {
			e.fake.SeedContact(taskipfake.Contact{Name: "BigCorp " + local, Email: local + "@bigcorp.example"})
		}
		li := e.fake.SeedContact(taskipfake.Contact{Name: "Li Na", Email: "li@bigcorp.example"})
		e.deliver(mailMsg("li-1@bigcorp.example", "Li Na <li@bigcorp.example>", "SSO certificate expires", "Our SSO certificate expires on Friday."))
		e.cycle()
		tk := scenarioOnlyTicket(t, e)
		require.NotNil(t, tk.User)
		assert.Equal(t, li.ID, tk.User.ID)
	})
}

// A customer's team writes from a Google Group they use as shared inbox,
// whose List-Id the operator allowed. Google Groups and Mailman also stamp
// "Precedence: list" on every post; with the List-Id allowed the post is
// still customer mail (screen.go: "whose posts are customer mail all the
// same").
func TestScenarioIntakeAllowedListPostWithPrecedenceList(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t, func(c *IntakeConfig, _ *imap.Config) {
			c.AllowedListIDs = []string{"it-team.acme.com"}
		})
		e.deliver(mailMsg("grp-1@acme.com", "John Smith <john@acme.com>", "[it-team] Mailbox quota", "Our shared mailbox is full.",
			"List-Id: IT Team <it-team.acme.com>", "Precedence: list", "Mailing-list: list it-team@acme.com; contact it-team+owners@acme.com",
			"List-Post: <mailto:it-team@acme.com>"))
		e.cycle()
		assert.Len(t, e.newTickets(), 1, "an allowed list's post becomes a ticket")
	})
}

// TaskIP hiccups in the middle of a conversation: the boss's note is
// refused with a 503 once, and the answer to John's reply is lost once.
// After the retries every mail has landed exactly once, in order.
func TestScenarioIntakeHiccupsMidConversation(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		tk := createFirst(t, e)
		e.deliver(mailMsg("hic-boss@acme.com", "Boss <boss@acme.com>", "Re: Login broken", "Escalating: the CFO is affected.",
			"In-Reply-To: <first@acme.com>"))
		e.deliver(mailMsg("hic-john@acme.com", "John Smith <john@acme.com>", "Re: Login broken", "The CFO's laptop is the one.",
			"In-Reply-To: <first@acme.com>"))
		e.deliver(mailMsg("hic-new@acme.com", "John Smith <john@acme.com>", "Printer jam", "Tray 2 is jammed."))

		e.fake.FailNextOn(http.MethodPost, "/support-ticket/"+tk.UUID+"/note-store", 1, http.StatusServiceUnavailable)
		require.Error(t, e.intake.Cycle(t.Context()))
		assert.Empty(t, e.fake.Replies(tk.ID), "nothing overtakes the failed note")
		assert.Len(t, e.newTickets(), 1)

		e.fake.DropResponseNextOn(http.MethodPost, fmt.Sprintf("/ticket/%d/add-reply", tk.ID), 1)
		require.Error(t, e.intake.Cycle(t.Context()))
		e.cycle()

		notes := scenarioNoteTexts(e.fake.Notes(tk.ID))
		require.Len(t, notes, 1)
		assert.Contains(t, notes[0], "Escalating: the CFO is affected.")
		assert.Equal(t, []string{"client: The CFO's laptop is the one."}, scenarioReplyTexts(e.fake.Replies(tk.ID)), "once, despite the lost answer")
		tickets := e.newTickets()
		require.Len(t, tickets, 2)
		assert.Equal(t, "Printer jam", tickets[1].Subject)
		e.assertAllSeen()
		scenarioNoIntents(t, e)
	})
}

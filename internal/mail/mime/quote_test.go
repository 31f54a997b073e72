package mime

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStripQuoted(t *testing.T) {
	const reply = "Thanks, that fixed it.\n\nJohn"
	tests := []struct {
		name string
		in   string
		want string
	}{
		// English
		{"gmail", reply + "\n\nOn Mon, Jan 15, 2024 at 9:30 AM Anna <support@example.com> wrote:\n\n> Try again.\n>\n", reply},
		{"gmail wrapped attribution", reply + "\n\nOn Mon, Jan 15, 2024 at 9:30 AM John Smith <\njohn@acme.com> wrote:\n\n> Try again.\n", reply},
		{"gmail wrapped before wrote", reply + "\n\nOn Mon, Jan 15, 2024 at 9:30 AM John Smith <john@acme.com>\nwrote:\n> Try again.\n", reply},
		{"outlook underscore block", reply + "\n\n________________________________\nFrom: Anna <support@example.com>\nSent: Monday, January 15, 2024 9:30 AM\nTo: John <john@acme.com>\nSubject: RE: export\n\nTry again.", reply},
		{"outlook original message", reply + "\n\n-----Original Message-----\nFrom: Anna [mailto:support@example.com]\nSent: Monday, January 15, 2024 9:30 AM\nTo: John\nSubject: export\n\nTry again.", reply},
		{"outlook spaced original message", reply + "\n\n----- Original Message -----\nFrom: Anna\nTo: John\nSent: Monday\nSubject: export\n\nTry again.", reply},
		{"outlook header block alone", reply + "\n\nFrom: Anna <support@example.com>\nSent: Monday, January 15, 2024 9:30 AM\nTo: John <john@acme.com>\nSubject: RE: export\n\nTry again.", reply},
		{"outlook bold header block", reply + "\n\n*From:* Anna <support@example.com>\n*Sent:* Monday, January 15, 2024 9:30 AM\n*To:* John\n*Subject:* RE: export\n\nTry again.", reply},
		{"apple mail", reply + "\n\nOn 15 Jan 2024, at 09:30, John <j@x.example> wrote:\n\n> Try again.", reply},
		{"apple mail quoted attribution", reply + "\n\n> On 15 Jan 2024, at 09:30, Anna <s@example.com> wrote:\n>\n> Try again.", reply},
		{"thunderbird", reply + "\n\nOn 1/15/24 9:30 AM, John Smith wrote:\n> Try again.", reply},
		{"thunderbird no quote marks", reply + "\n\nOn 1/15/24 9:30 AM, John Smith wrote:\nTry again.", reply},
		{"yahoo", reply + "\n\nOn Monday, January 15, 2024, 09:30:00 AM GMT+1, Anna <s@example.com> wrote:\n\n\nTry again.", reply},
		{"name wrote with quote", reply + "\n\nAnna Support wrote:\n> Try again.", reply},
		{"trailing quote block", reply + "\n\n> Try again.\n> Anna\n\n", reply},
		{"rfc 3676 signature", reply + "\n\n-- \nJohn Smith\nAcme Corp.", reply},
		{"signature then quote", reply + "\n-- \nJohn Smith\n\nOn 1/15/24 9:30 AM, Anna wrote:\n> Try again.", reply},
		{"sent from my iphone", reply + "\n\nSent from my iPhone\n\n> On 15 Jan 2024, at 09:30, Anna <s@example.com> wrote:\n> Try again.", reply},
		{"get outlook for ios", reply + "\n\nGet Outlook for iOS<https://aka.ms/o0ukef>", reply},
		{"get outlook for ios plain", reply + "\n\nGet Outlook for iOS\n________________________________\nFrom: Anna <s@example.com>\nSent: Monday, January 15, 2024 9:30 AM\nTo: John\nSubject: export", reply},
		{"sent from samsung", reply + "\n\nSent from my Galaxy", reply},
		{"crlf", strings.ReplaceAll(reply+"\n\nOn 1/15/24 9:30 AM, Anna wrote:\n> Try again.\n", "\n", "\r\n"), reply},

		// German
		{"de apple", "Danke, es geht wieder.\n\nJürgen\n\nAm 15.01.2024 um 09:30 schrieb John Smith <john@acme.com>:\n\n> Bitte erneut versuchen.", "Danke, es geht wieder.\n\nJürgen"},
		{"de gmail wrapped", "Danke!\n\nAm Mo., 15. Jan. 2024 um 09:30 Uhr schrieb John Smith <\njohn@acme.com>:\n\n> Bitte erneut versuchen.", "Danke!"},
		{"de thunderbird", "Danke!\n\nAm 15.01.24 um 09:30 schrieb Anna:\n> Bitte erneut versuchen.", "Danke!"},
		{"de name schrieb am", "Danke!\n\nJohn Smith <john@acme.com> schrieb am Mo., 15. Jan. 2024, 09:30:\n> Bitte erneut versuchen.", "Danke!"},
		{"de outlook", "Danke!\n\n-----Ursprüngliche Nachricht-----\nVon: Anna <s@example.com>\nGesendet: Montag, 15. Januar 2024 09:30\nAn: Jürgen\nBetreff: AW: Export\n\nBitte erneut versuchen.", "Danke!"},
		{"de outlook block", "Danke!\n\nVon: Anna <s@example.com>\nGesendet: Montag, 15. Januar 2024 09:30\nAn: Jürgen\nBetreff: AW: Export\n\nBitte erneut versuchen.", "Danke!"},
		{"de iphone", "Danke!\n\nVon meinem iPhone gesendet\n\n> Am 15.01.2024 um 09:30 schrieb Anna <s@example.com>:\n> Bitte erneut versuchen.", "Danke!"},

		// French
		{"fr gmail", "Merci !\n\nLe lun. 15 janv. 2024 à 09:30, John Smith <john@acme.com> a écrit :\n\n> Veuillez réessayer.", "Merci !"},
		{"fr gmail wrapped nbsp", "Merci !\n\nLe lun. 15 janv. 2024 à 09:30, John Smith <john@acme.com> a\nécrit\u00a0:\n\n> Veuillez réessayer.", "Merci !"},
		{"fr outlook", "Merci !\n\n-----Message d'origine-----\nDe : Anna <s@example.com>\nEnvoyé : lundi 15 janvier 2024 09:30\nÀ : Élodie\nObjet : RE: Facture\n\nVeuillez réessayer.", "Merci !"},
		{"fr outlook block nbsp", "Merci !\n\nDe\u00a0: Anna <s@example.com>\nEnvoyé\u00a0: lundi 15 janvier 2024 09:30\nÀ\u00a0: Élodie\nObjet\u00a0: RE: Facture\n\nVeuillez réessayer.", "Merci !"},
		{"fr iphone", "Merci !\n\nEnvoyé de mon iPhone\n\n> Le 15 janv. 2024 à 09:30, Anna <s@example.com> a écrit :", "Merci !"},

		// Do not strip
		{"wrote mid-text", "I wrote: the report is attached.\nPlease check.", "I wrote: the report is attached.\nPlease check."},
		{"on monday I wrote", "On Monday I wrote:\nthe export must run nightly.\nIt does not.", "On Monday I wrote:\nthe export must run nightly.\nIt does not."},
		{"pasted prompt mid-message", "I ran:\n\n> npm install\n> npm run build\n\nand it failed with EACCES.\n\nJohn", "I ran:\n\n> npm install\n> npm run build\n\nand it failed with EACCES.\n\nJohn"},
		{"apple forward", "See below.\n\nBegin forwarded message:\n\nFrom: Bank <b@bank.example>\nSubject: Payment failed\nDate: 15 January 2024 at 09:30:00 CET\nTo: j@x.example\n\nYour payment failed.", "See below.\n\nBegin forwarded message:\n\nFrom: Bank <b@bank.example>\nSubject: Payment failed\nDate: 15 January 2024 at 09:30:00 CET\nTo: j@x.example\n\nYour payment failed."},
		{"gmail forward keeps signature removal above", "See below.\n-- \nJohn\n\n---------- Forwarded message ---------\nFrom: Bank <b@bank.example>\nDate: Mon, Jan 15, 2024 at 9:30 AM\nSubject: Payment failed\nTo: <j@x.example>\n\nYour payment failed.", "See below.\n\n---------- Forwarded message ---------\nFrom: Bank <b@bank.example>\nDate: Mon, Jan 15, 2024 at 9:30 AM\nSubject: Payment failed\nTo: <j@x.example>\n\nYour payment failed."},
		{"only a quote", "On 1/15/24 9:30 AM, Anna wrote:\n> Try again.\n", "On 1/15/24 9:30 AM, Anna wrote:\n> Try again."},
		{"bottom post", "On 1/15/24 9:30 AM, Anna wrote:\n> Try again?\n\nDone, works now.", "On 1/15/24 9:30 AM, Anna wrote:\n> Try again?\n\nDone, works now."},
		{"list footer rule", "Anyone else?\n\n_______________________________________________\nUsers mailing list -- users@lists.example.org", "Anyone else?\n\n_______________________________________________\nUsers mailing list -- users@lists.example.org"},
		{"from line in text", "From: the accounting team\nTo whom it may concern, the invoice is wrong.", "From: the accounting team\nTo whom it may concern, the invoice is wrong."},
		{"double dash early", "Steps:\n--\n1. open\n2. click\n3. wait\n4. see error\n5. reload\n6. again\n7. still broken", "Steps:\n--\n1. open\n2. click\n3. wait\n4. see error\n5. reload\n6. again\n7. still broken"},
		{"empty", "", ""},
		{"blank", " \n\t\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := StripQuoted(tc.in)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, len(got), len(strings.TrimSpace(tc.in)))
		})
	}
}

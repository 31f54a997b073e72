//go:build unix

package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// The promise of docs/architecture.md, "Invariants": "A crash at any point loses no mail and creates no duplicate
// ticket". The daemon is SIGKILLed at random moments while it works through
// a mailbox that keeps growing, then allowed to finish; every mail must then
// be in TaskIP exactly once, and in the right place.
func TestCrashLosesNothingAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the daemon about ten times; skipped with -short")
	}
	const (
		initialMails = 120
		targetKills  = 8
		minKills     = 5
		maxRuns      = 20 // bounds the loop when kills keep landing on an idle daemon
	)
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	e := newDaemonEnv(t)
	// A real TaskIP answers in tens of milliseconds; with none at all the
	// daemon drains the mailbox before most kills land.
	e.fake.SetLatency(2 * time.Millisecond)
	// The backlog is mostly new conversations, as after a weekend, so the
	// first batches are long and a kill leaves many intents behind; the
	// waves mix new mail and replies.
	w := &workload{rng: rng, senders: seedCrashContacts(e.fake)}
	w.plan(110, 10, 90)
	w.plan(40, 40, 0)
	w.appendNext(e, initialMails)

	kills, idleWave := 0, 40
	for run := 1; kills < targetKills && run <= maxRuns; run++ {
		_, seenBefore := e.progress()
		c := e.start()
		if run == 1 {
			// One kill is aimed: with the batch's intents written and a
			// create in flight, the next run must reconcile and redo
			// the batch, whatever the scheduler does to the random ones.
			poll(15*time.Second, func() bool { return hasRequest(e.fake, http.MethodPost, "/support-ticket") || c.exited() })
		} else {
			time.Sleep(time.Duration(50+rng.IntN(351)) * time.Millisecond)
		}
		if c.exited() {
			t.Fatalf("daemon run %d exited on its own (code %d) before the kill\n%s", c.n, c.state.ExitCode(), tail(c.stderr(), 8<<10))
		}
		c.killGroup()
		unseen, seenAfter := e.progress()
		// Unseen mail after the kill was unseen at the kill: only such a
		// kill tests anything.
		if unseen > 0 {
			kills++
		}
		t.Logf("run %d: killed with %d unseen; %d marked processed in this run", c.n, unseen, seenAfter-seenBefore)

		wave := (w.remaining() + targetKills - kills - 1) / max(targetKills-kills, 1)
		if unseen == 0 {
			// The daemon outran the killer: ever bigger waves, with more
			// mail planned if need be, or the kill count would be vacuous.
			if w.remaining() < idleWave {
				w.extend(idleWave - w.remaining())
			}
			wave, idleWave = idleWave, min(2*idleWave, 160)
		}
		w.appendNext(e, wave)
	}
	w.appendNext(e, w.remaining())
	if kills < minKills {
		t.Fatalf("only %d kills landed while work remained; want at least %d", kills, minKills)
	}

	last := e.start()
	var unseen, total int
	if !poll(60*time.Second, func() bool {
		unseen, total = e.unseen()
		return unseen == 0 && total == len(w.mails) || last.exited()
	}) || last.exited() {
		t.Fatalf("final run: %d of %d mails still unseen (daemon exited: %v)", unseen, total, last.exited())
	}
	last.signalGroup(syscall.SIGTERM)
	if code, ok := last.wait(10 * time.Second); !ok || code != 0 {
		t.Fatalf("final run after SIGTERM: exit code %d, exited %v", code, ok)
	}
	t.Logf("%d kills while work remained, %d daemon runs, %d mails (%d new conversations)", kills, last.n, len(w.mails), w.newCount())

	w.check(t, e)
	e.requireNoIntents()
}

// crashSeed makes a failing run reproducible as far as the test decides
// (workload and kill timing); the scheduler's part cannot be replayed.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TICKETSYNC_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TICKETSYNC_CRASH_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with TICKETSYNC_CRASH_SEED=%d)", seed, seed)
	return seed
}

// maxNewPerSender is the loop guard's default: more new tickets an hour
// from one sender are dropped as a mail loop, rightly.
const maxNewPerSender = 20

// seedCrashContacts returns the senders, all TaskIP contacts so that their
// follow-ups are customer replies and not third-party notes.
func seedCrashContacts(fake *taskipfake.Server) []string {
	senders := []string{"john@acme.com", "emma@startup.com", "mike@techcorp.com"}
	for _, name := range []string{"ana", "bert", "chloe", "dmitri", "eve", "farid", "grace"} {
		addr := name + "@customers.example.org"
		fake.SeedContact(taskipfake.Contact{Name: name, Email: addr})
		senders = append(senders, addr)
	}
	return senders
}

// crashMail is one mail of the workload; its marker is its index.
type crashMail struct {
	id, from string
	original int // index of the mail a reply answers; -1 for a new conversation
}

func (m crashMail) marker(i int) string { return fmt.Sprintf("marker-%04d", i) }

// workload is the planned mail, appended to INBOX in order. A reply always
// comes after its original, so it is later in UID order.
type workload struct {
	rng      *rand.Rand
	senders  []string
	mails    []crashMail
	appended int
}

// plan adds news new conversations and replies replies, the first
// newFirst of them all new, the rest in random order.
func (w *workload) plan(news, replies, newFirst int) {
	kinds := make([]bool, news+replies) // true: reply
	for i := range replies {
		kinds[len(kinds)-1-i] = true
	}
	rest := kinds[newFirst:]
	w.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	for _, reply := range kinds {
		var originals []int
		for i, m := range w.mails {
			if m.original < 0 {
				originals = append(originals, i)
			}
		}
		i := len(w.mails)
		if !reply || len(originals) == 0 {
			// Round robin: the senders' counts stay even and under
			// maxNewPerSender, so a rate-limit skip is always a bug.
			from := w.senders[len(originals)%len(w.senders)]
			w.mails = append(w.mails, crashMail{id: fmt.Sprintf("new-%04d@%s", i, domain(from)), from: from, original: -1})
			continue
		}
		o := originals[w.rng.IntN(len(originals))]
		from := w.mails[o].from
		w.mails = append(w.mails, crashMail{id: fmt.Sprintf("re-%04d@%s", i, domain(from)), from: from, original: o})
	}
}

// extend plans n more mails, more of them replies once the senders' hourly
// allowance of new tickets runs out.
func (w *workload) extend(n int) {
	news := max(min(n-n/4, maxNewPerSender*len(w.senders)-w.newCount()), 0)
	w.plan(news, n-news, 0)
}

func (w *workload) remaining() int { return len(w.mails) - w.appended }

func (w *workload) newCount() int {
	n := 0
	for _, m := range w.mails {
		if m.original < 0 {
			n++
		}
	}
	return n
}

func (w *workload) appendNext(e *daemonEnv, n int) {
	for range min(n, w.remaining()) {
		i := w.appended
		m := w.mails[i]
		var raw []byte
		if m.original < 0 {
			raw = mailMsg(m.id, m.from, fmt.Sprintf("Question %04d", i), fmt.Sprintf("Something broke, see %s.\n", m.marker(i)))
		} else {
			o := w.mails[m.original]
			raw = mailMsg(m.id, m.from, fmt.Sprintf("Re: Question %04d", m.original), fmt.Sprintf("More details: %s.\n", m.marker(i)),
				"In-Reply-To: <"+o.id+">", "References: <"+o.id+">")
		}
		e.imap.Append(e.t, "INBOX", raw)
		w.appended++
	}
}

func domain(addr string) string { return addr[strings.IndexByte(addr, '@')+1:] }

var markerRE = regexp.MustCompile(`marker-\d{4}`)

// place is where a marker turned up in TaskIP.
type place struct {
	kind   string // description, reply or note
	ticket int
}

// check requires every mail's marker exactly once: a new conversation in a
// ticket description, a reply among the replies of its original's ticket.
func (w *workload) check(t *testing.T, e *daemonEnv) {
	t.Helper()
	found := map[string][]place{}
	note := func(kind string, ticket int, text string) {
		for _, m := range markerRE.FindAllString(text, -1) {
			found[m] = append(found[m], place{kind, ticket})
		}
	}
	for _, tk := range e.fake.Tickets() {
		note("description", tk.ID, tk.Description)
		for _, r := range e.fake.Replies(tk.ID) {
			note("reply", tk.ID, r.Message)
		}
		for _, n := range e.fake.Notes(tk.ID) {
			note("note", tk.ID, n.Note)
		}
	}
	if got, want := len(e.newTickets()), w.newCount(); got != want {
		t.Errorf("%d tickets created, want %d (one per new conversation)", got, want)
	}
	ticketOf := func(i int) int {
		if p := found[w.mails[i].marker(i)]; len(p) == 1 && p[0].kind == "description" {
			return p[0].ticket
		}
		return -1
	}
	var problems []string
	planned := map[string]bool{}
	for i, m := range w.mails {
		key := m.marker(i)
		planned[key] = true
		places := found[key]
		switch {
		case len(places) != 1:
			problems = append(problems, fmt.Sprintf("%s (%s from %s) found %d times: %v", key, m.id, m.from, len(places), places))
		case m.original < 0 && places[0].kind != "description":
			problems = append(problems, fmt.Sprintf("%s: new conversation landed as a %s on ticket %d", key, places[0].kind, places[0].ticket))
		case m.original >= 0 && (places[0].kind != "reply" || places[0].ticket != ticketOf(m.original)):
			problems = append(problems, fmt.Sprintf("%s: reply landed as a %s on ticket %d, want a reply on ticket %d (its original %s)",
				key, places[0].kind, places[0].ticket, ticketOf(m.original), w.mails[m.original].marker(m.original)))
		}
	}
	for key, places := range found {
		if !planned[key] {
			problems = append(problems, fmt.Sprintf("%s was never sent but is in TaskIP: %v", key, places))
		}
	}
	for i, p := range problems {
		if i == 25 {
			t.Errorf("... and %d more problems", len(problems)-i)
			break
		}
		t.Error(p)
	}
}

// progress counts INBOX mail not yet and already marked processed.
func (e *daemonEnv) progress() (unseen, seen int) {
	unseen, total := e.unseen()
	return unseen, total - unseen
}

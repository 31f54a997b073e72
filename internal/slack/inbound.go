package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// InboundConfig configures NewHTTPHandler.
type InboundConfig struct {
	Verifier   Verifier
	Handler    Handler
	Logger     *slog.Logger
	AckTimeout time.Duration // 0: DefaultAckTimeout
	// MaxUnverified bounds the bodies being read before verification;
	// beyond it a request gets 503 at once. 0: DefaultMaxUnverified.
	MaxUnverified int
	// Refused, when set, is called once per refused request with one of
	// the Refused* reasons and the error; the handler itself logs
	// refusals at Debug only. It must not block.
	Refused func(reason string, err error)
}

// NewHTTPHandler serves Slack's three request URLs. Mount it at "/slack/":
// it routes on the last path element only (…/commands, …/events,
// …/interactive), so the prefix is the caller's choice.
//
// The signature and timestamp headers are checked before the body is read,
// and a request without them is refused (401) and its connection closed
// without reading the rest. The body is then read once, capped at the
// Verifier's MaxBody with at most MaxUnverified being read at a time, and
// verified before anything is parsed; a refused request reaches no Handler
// method. Slack gets its answer within AckTimeout even when the Handler is
// slow.
func NewHTTPHandler(cfg InboundConfig) http.Handler {
	if cfg.Handler == nil {
		panic("slack: NewHTTPHandler without a Handler")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.MaxUnverified <= 0 {
		cfg.MaxUnverified = DefaultMaxUnverified
	}
	return &inbound{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxUnverified)}
}

type inbound struct {
	cfg   InboundConfig
	log   *slog.Logger
	slots chan struct{} // one per body being read and verified
}

func (s *inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(http.ResponseWriter, *http.Request, []byte)
	switch path.Base(r.URL.Path) {
	case "commands":
		serve = s.command
	case "events":
		serve = s.event
	case "interactive":
		serve = s.interactive
	default:
		s.refuse(w, r, http.StatusNotFound, RefusedNotFound, errors.New("slack: no such endpoint"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.refuse(w, r, http.StatusMethodNotAllowed, RefusedNotFound, fmt.Errorf("slack: method %s", cutASCII(r.Method, 10)))
		return
	}
	body, ok := s.read(w, r)
	if !ok {
		return
	}
	serve(w, r, body)
}

// handlerCtx outlives the acknowledgement: the request's own context ends
// the moment the answer is written, which would cancel work the Handler
// hands off to its goroutine.
func handlerCtx(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

func (s *inbound) command(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c := Command{TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), UserID: form.Get("user_id"),
		UserName: form.Get("user_name"), Command: form.Get("command"), Text: form.Get("text"),
		ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id")}
	ctx := handlerCtx(r)
	reply, _ := within(s.cfg.AckTimeout, s.log, "command", func() Reply { return s.cfg.Handler.HandleCommand(ctx, c) })
	if reply.empty() {
		w.WriteHeader(http.StatusOK) // an empty 200 is an acknowledgement without a message
		return
	}
	writeJSON(w, s.log, ackOf(reply))
}

func (s *inbound) event(w http.ResponseWriter, r *http.Request, body []byte) {
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		if !json.Valid(body) {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		// Inner event types slack-go does not know land here; a non-200
		// would only make Slack deliver them three more times.
		s.log.Debug("slack: unparsed event acknowledged", "err", err)
		w.WriteHeader(http.StatusOK)
		return
	}
	switch ev.Type {
	case slackevents.URLVerification:
		v, _ := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if v == nil {
			http.Error(w, "bad url_verification", http.StatusBadRequest)
			return
		}
		writeJSON(w, s.log, map[string]string{"challenge": v.Challenge})
		return
	case slackevents.AppRateLimited:
		s.log.Warn("slack: Events API rate limited this app; some events were not delivered")
	case slackevents.CallbackEvent:
		m, ok := messageFrom(ev)
		if !ok {
			break
		}
		m.RetryNum, _ = strconv.Atoi(r.Header.Get("X-Slack-Retry-Num"))
		m.RetryReason = r.Header.Get("X-Slack-Retry-Reason")
		ctx := handlerCtx(r)
		within(s.cfg.AckTimeout, s.log, "message", func() struct{} { s.cfg.Handler.HandleMessage(ctx, m); return struct{}{} })
	}
	w.WriteHeader(http.StatusOK)
}

func (s *inbound) interactive(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	var ic slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &ic); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	actions := actionsFrom(ic)
	if len(actions) > 0 {
		ctx := handlerCtx(r)
		// One deadline for all actions of the request: Slack's 3 s
		// are for the whole answer.
		within(s.cfg.AckTimeout, s.log, "action", func() struct{} {
			for _, a := range actions {
				s.cfg.Handler.HandleAction(ctx, a)
			}
			return struct{}{}
		})
	}
	w.WriteHeader(http.StatusOK)
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		log.Error("slack: encoding the acknowledgement failed", "err", err)
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}

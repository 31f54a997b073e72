package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/ticketsync/ticketsync/internal/mrkdwn"
)

// SocketConfig configures RunSocketMode.
type SocketConfig struct {
	AppToken   string // xapp-…, connections:write; never logged
	BotToken   string // xoxb-…; slack-go's client wants one, no call uses it here
	APIURL     string // "" is Slack itself
	Handler    Handler
	Logger     *slog.Logger
	AckTimeout time.Duration // 0: DefaultAckTimeout
}

// maxSocketAck stays under Socket Mode's limit: Slack silently drops a
// response of 20 KB or more, and slack-go refuses to send one.
const maxSocketAck = 20*1024 - 512

// RunSocketMode receives commands, events and actions over a Socket Mode
// WebSocket until ctx ends, then returns nil. slack-go reconnects on its own
// (Slack asks for that every few hours); an error is returned only when it
// gives up, e.g. for a revoked app token.
//
// Requests are handled one at a time in arrival order, each with the same
// deadline as over HTTP, and acknowledged after its Handler method returned.
func RunSocketMode(ctx context.Context, cfg SocketConfig) error {
	if strings.TrimSpace(cfg.AppToken) == "" {
		return errors.New("slack: socket mode: no app token configured")
	}
	if cfg.Handler == nil {
		return errors.New("slack: socket mode: no handler")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	red := redactor(cfg.AppToken)
	opts := []slackapi.Option{
		slackapi.OptionAppLevelToken(cfg.AppToken),
		slackapi.OptionHTTPClient(&http.Client{Timeout: defaultTimeout}),
	}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		opts = append(opts, slackapi.OptionAPIURL(u))
	}
	// slack-go logs to stderr by default; its lines go through slog at
	// Debug instead (with debug off it logs nothing anyway).
	client := socketmode.New(slackapi.New(cfg.BotToken, opts...),
		socketmode.OptionLog(slog.NewLogLogger(log.Handler(), slog.LevelDebug)))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(runCtx) }()

	sm := socketRun{client: client, cfg: cfg, log: log, ctx: ctx}
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-runErr
			return nil
		case err := <-runErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack: socket mode: %w", red.error(redactTicket(err)))
		case ev := <-client.Events:
			sm.dispatch(ev)
		}
	}
}

type socketRun struct {
	client *socketmode.Client
	cfg    SocketConfig
	log    *slog.Logger
	ctx    context.Context
	failed bool // a connection error was logged at Warn; repeats go to Debug
}

func (s *socketRun) dispatch(ev socketmode.Event) {
	switch ev.Type {
	case socketmode.EventTypeConnecting:
		s.log.Debug("slack: socket mode connecting")
	case socketmode.EventTypeConnected:
		s.log.Info("slack: socket mode connected")
		s.failed = false
	case socketmode.EventTypeConnectionError:
		lvl := slogLevelRepeat
		if !s.failed {
			lvl, s.failed = slogLevelFirst, true
		}
		var err error
		if ce, ok := ev.Data.(*slackapi.ConnectionErrorEvent); ok {
			err = redactor(s.cfg.AppToken).error(redactTicket(ce.ErrorObj))
		}
		s.log.Log(s.ctx, lvl, "slack: socket mode connection failed, retrying", "err", err)
	case socketmode.EventTypeInvalidAuth:
		s.log.Error("slack: socket mode: the app token was refused")
	case socketmode.EventTypeErrorBadMessage:
		s.log.Warn("slack: socket mode: unreadable message skipped")
	case socketmode.EventTypeErrorWriteFailed:
		// Slack redelivers what was not acknowledged; the bridge dedupes.
		s.log.Warn("slack: socket mode: acknowledgement not sent")
	case socketmode.EventTypeSlashCommand:
		cmd, ok := ev.Data.(slackapi.SlashCommand)
		if !ok || ev.Request == nil {
			return
		}
		c := commandFrom(cmd)
		reply, _ := within(s.cfg.AckTimeout, s.log, "command", func() Reply { return s.cfg.Handler.HandleCommand(s.ctx, c) })
		s.ack(ev.Request, reply)
	case socketmode.EventTypeEventsAPI:
		api, ok := ev.Data.(slackevents.EventsAPIEvent)
		if !ok || ev.Request == nil {
			return
		}
		if m, ok := messageFrom(api); ok {
			m.RetryNum, m.RetryReason = ev.Request.RetryAttempt, ev.Request.RetryReason
			within(s.cfg.AckTimeout, s.log, "message", func() struct{} { s.cfg.Handler.HandleMessage(s.ctx, m); return struct{}{} })
		}
		s.ack(ev.Request, Reply{})
	case socketmode.EventTypeInteractive:
		ic, ok := ev.Data.(slackapi.InteractionCallback)
		if !ok || ev.Request == nil {
			return
		}
		if actions := actionsFrom(ic); len(actions) > 0 {
			within(s.cfg.AckTimeout, s.log, "action", func() struct{} {
				for _, a := range actions {
					s.cfg.Handler.HandleAction(s.ctx, a)
				}
				return struct{}{}
			})
		}
		s.ack(ev.Request, Reply{})
	}
}

// ack answers one envelope. A reply too large for Socket Mode loses its
// blocks and then text; an ack that still cannot be sent goes out empty,
// because an unacknowledged envelope is redelivered.
func (s *socketRun) ack(req *socketmode.Request, reply Reply) {
	if reply.empty() {
		s.send(req, nil)
		return
	}
	payload := ackOf(reply)
	if b, err := json.Marshal(payload); err != nil || len(b) >= maxSocketAck {
		s.log.Warn("slack: command reply too large for socket mode, sending text only", "bytes", len(b))
		payload.Blocks = nil
		payload.Text = mrkdwn.CutText(payload.Text, MaxFallbackText, "")
	}
	if err := s.send(req, payload); err != nil {
		s.log.Warn("slack: socket mode ack with payload failed, acknowledging without", "err", err)
		_ = s.send(req, nil)
	}
}

func (s *socketRun) send(req *socketmode.Request, payload any) error {
	err := s.client.AckCtx(s.ctx, req.EnvelopeID, payload)
	if err != nil && s.ctx.Err() == nil {
		s.log.Debug("slack: socket mode ack failed", "envelope", req.EnvelopeID, "err", err)
	}
	return err
}

// ticketRe hides the ticket of a Socket Mode URL
// (wss://…/link/?ticket=…&app_id=…), a one-time connection credential.
var ticketRe = regexp.MustCompile(`ticket=[^&\s"]+`)

func redactTicket(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := ticketRe.ReplaceAllString(msg, "ticket=[REDACTED]"); clean != msg {
		return &redactedError{msg: clean}
	}
	return err
}

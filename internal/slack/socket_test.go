package slack

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

type socketHarness struct {
	fake *slackfake.Inbound
	rec  *recorder
	log  *logtest.Buffer
	done chan error
	stop context.CancelFunc
}

func startSocket(t *testing.T, appToken string) *socketHarness {
	t.Helper()
	h := &socketHarness{fake: slackfake.NewInbound(t, slackfake.New(t)), rec: &recorder{}, log: &logtest.Buffer{}, done: make(chan error, 1)}
	h.fake.PingInterval = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	t.Cleanup(cancel)
	go func() {
		h.done <- RunSocketMode(ctx, SocketConfig{AppToken: appToken, BotToken: slackfake.DefaultToken,
			APIURL: h.fake.URL(), Handler: h.rec, AckTimeout: 300 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	}()
	return h
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (h *socketHarness) roundTrip(t *testing.T, env slackfake.Envelope) slackfake.Ack {
	t.Helper()
	id, err := h.fake.Send(env)
	require.NoError(t, err)
	ack, err := h.fake.WaitAck(waitCtx(t), id)
	require.NoError(t, err, "no ack for %s", env.Type)
	return ack
}

func TestSocketMode(t *testing.T) {
	h := startSocket(t, slackfake.DefaultAppToken)
	require.NoError(t, h.fake.WaitConnected(waitCtx(t)))

	t.Run("events_api", func(t *testing.T) {
		ack := h.roundTrip(t, slackfake.Envelope{Type: "events_api", RetryAttempt: 1, RetryReason: "timeout",
			Payload: json.RawMessage(eventBody(`{"type":"message","channel":"C1","user":"U1","text":"note this",` +
				`"ts":"1705309150.000200","thread_ts":"1705309100.000100"}`))})
		assert.Empty(t, ack.Payload)
		_, msgs, _ := h.rec.calls()
		assert.Equal(t, []MessageEvent{{EventID: "Ev01", EventTime: 1705309200, TeamID: "T1", Channel: "C1", User: "U1",
			Text: "note this", TS: "1705309150.000200", ThreadTS: "1705309100.000100", RetryNum: 1, RetryReason: "timeout"}}, msgs)
	})
	t.Run("slash_commands", func(t *testing.T) {
		h.rec.mu.Lock()
		h.rec.reply = Reply{Text: "Working on it…", Ephemeral: true}
		h.rec.mu.Unlock()
		ack := h.roundTrip(t, slackfake.Envelope{Type: "slash_commands", Payload: map[string]string{
			"team_id": "T1", "channel_id": "C1", "user_id": "U1", "user_name": "ann", "command": "/ticket",
			"text": "show 42", "response_url": "https://hooks.slack.com/commands/T1/1/x", "trigger_id": "tr1"}})
		assert.JSONEq(t, `{"response_type":"ephemeral","text":"Working on it…"}`, string(ack.Payload))
		cmds, _, _ := h.rec.calls()
		assert.Equal(t, []Command{{TeamID: "T1", ChannelID: "C1", UserID: "U1", UserName: "ann", Command: "/ticket",
			Text: "show 42", ResponseURL: "https://hooks.slack.com/commands/T1/1/x", TriggerID: "tr1"}}, cmds)
	})
	t.Run("reply too large for socket mode loses its blocks", func(t *testing.T) {
		big := make([]slackapi.Block, 0, 10)
		for range 10 {
			big = append(big, slackapi.NewSectionBlock(slackapi.NewTextBlockObject("mrkdwn", strings.Repeat("x", 2900), false, false), nil, nil))
		}
		h.rec.mu.Lock()
		h.rec.reply = Reply{Text: "Ticket list", Blocks: big}
		h.rec.mu.Unlock()
		ack := h.roundTrip(t, slackfake.Envelope{Type: "slash_commands", Payload: map[string]string{"command": "/ticket", "text": "list"}})
		assert.JSONEq(t, `{"response_type":"in_channel","text":"Ticket list"}`, string(ack.Payload))
	})
	t.Run("interactive", func(t *testing.T) {
		ack := h.roundTrip(t, slackfake.Envelope{Type: "interactive", Payload: json.RawMessage(`{"type":"block_actions",
			"user":{"id":"U2"},"channel":{"id":"C1"},"container":{"type":"message","message_ts":"1705309100.000100","channel_id":"C1"},
			"response_url":"https://hooks.slack.com/actions/T1/2/y","trigger_id":"tr2",
			"actions":[{"type":"button","block_id":"tsync:actions","action_id":"resolve","value":"uuid-42"}]}`)})
		assert.Empty(t, ack.Payload)
		_, _, actions := h.rec.calls()
		assert.Equal(t, []BlockAction{{UserID: "U2", ChannelID: "C1", MessageTS: "1705309100.000100", ActionID: "resolve",
			BlockID: "tsync:actions", Value: "uuid-42", ResponseURL: "https://hooks.slack.com/actions/T1/2/y", TriggerID: "tr2"}}, actions)
	})
	t.Run("slow handler is acknowledged", func(t *testing.T) {
		h.rec.mu.Lock()
		h.rec.block = make(chan struct{})
		h.rec.mu.Unlock()
		defer func() {
			h.rec.mu.Lock()
			close(h.rec.block)
			h.rec.block = nil
			h.rec.mu.Unlock()
		}()
		start := time.Now()
		ack := h.roundTrip(t, slackfake.Envelope{Type: "slash_commands", Payload: map[string]string{"command": "/ticket"}})
		assert.Empty(t, ack.Payload)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
	t.Run("reconnects after the connection drops", func(t *testing.T) {
		opens := h.fake.Opens()
		h.fake.Disconnect()
		require.Eventually(t, func() bool { return h.fake.Opens() > opens }, 5*time.Second, 10*time.Millisecond)
		require.NoError(t, h.fake.WaitConnected(waitCtx(t)))
		var id string
		require.Eventually(t, func() bool {
			var err error
			id, err = h.fake.Send(slackfake.Envelope{Type: "events_api", Payload: json.RawMessage(eventBody(`{"type":"message","channel":"C1","user":"U1","text":"again","ts":"1.3"}`))})
			return err == nil
		}, 5*time.Second, 10*time.Millisecond)
		_, err := h.fake.WaitAck(waitCtx(t), id)
		require.NoError(t, err)
	})

	h.stop()
	select {
	case err := <-h.done:
		assert.NoError(t, err, "a cancelled context is a clean stop")
	case <-time.After(5 * time.Second):
		t.Fatal("RunSocketMode did not return after cancel")
	}
	assert.NotContains(t, h.log.String(), slackfake.DefaultAppToken)
}

func TestSocketModeRefusedToken(t *testing.T) {
	const wrong = "xapp-1-A0000001-999-wrongwrongwrong"
	h := startSocket(t, wrong)
	select {
	case err := <-h.done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "invalid_auth")
		assert.NotContains(t, err.Error(), wrong)
	case <-time.After(5 * time.Second):
		t.Fatal("a refused app token must end RunSocketMode")
	}
	assert.NotContains(t, h.log.String(), wrong)
}

func TestSocketModeConfig(t *testing.T) {
	ctx := context.Background()
	assert.Error(t, RunSocketMode(ctx, SocketConfig{Handler: &recorder{}}))
	assert.Error(t, RunSocketMode(ctx, SocketConfig{AppToken: "xapp-1"}))
}

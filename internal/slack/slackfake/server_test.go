package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func client(s *Server, token string) *slackapi.Client {
	return slackapi.New(token, slackapi.OptionAPIURL(s.URL()))
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	s := New(t)

	t.Run("right token", func(t *testing.T) {
		r, err := client(s, DefaultToken).AuthTestContext(ctx)
		require.NoError(t, err)
		assert.Equal(t, BotUserID, r.UserID)
		assert.Equal(t, BotID, r.BotID)
	})
	t.Run("wrong token", func(t *testing.T) {
		_, _, err := client(s, "xoxb-wrong").PostMessageContext(ctx, "C1", slackapi.MsgOptionText("hi", false))
		var se slackapi.SlackErrorResponse
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "invalid_auth", se.Err)
		assert.Empty(t, s.Messages("C1"))
	})
	t.Run("bearer header and no token", func(t *testing.T) {
		post := func(header string) string {
			req, err := http.NewRequest(http.MethodPost, s.URL()+"auth.test", strings.NewReader(url.Values{}.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var body struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			require.NoError(t, jsonDecode(resp, &body))
			return body.Error
		}
		assert.Equal(t, "", post("Bearer "+DefaultToken))
		assert.Equal(t, "invalid_auth", post("Bearer xoxb-other"))
		assert.Equal(t, "not_authed", post(""))
	})
	t.Run("configurable token", func(t *testing.T) {
		s.SetToken("xoxb-other")
		defer s.SetToken(DefaultToken)
		_, err := client(s, "xoxb-other").AuthTestContext(ctx)
		require.NoError(t, err)
	})
}

func TestMessagesThreadsUpdates(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	api := client(s, DefaultToken)
	block := slackapi.NewSectionBlock(slackapi.NewTextBlockObject("mrkdwn", "*subject*", false, false), nil, nil)
	meta := slackapi.SlackMetadata{EventType: "ticketsync_ticket", EventPayload: map[string]any{"uuid": "u-1"}}

	_, parent, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("parent", false),
		slackapi.MsgOptionBlocks(block), slackapi.MsgOptionMetadata(meta))
	require.NoError(t, err)
	assert.Regexp(t, `^\d{10}\.\d{6}$`, parent)
	sec, err := strconv.ParseInt(parent[:10], 10, 64)
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Unix(), sec, 5, "a ts is the time of posting")
	_, reply, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("reply", false), slackapi.MsgOptionTS(parent))
	require.NoError(t, err)
	assert.Greater(t, reply, parent)

	top := s.Messages("C1")
	require.Len(t, top, 1)
	assert.Equal(t, "parent", top[0].Text)
	assert.JSONEq(t, `{"event_type":"ticketsync_ticket","event_payload":{"uuid":"u-1"}}`, string(top[0].Metadata))
	assert.Contains(t, string(top[0].Blocks), `"*subject*"`)
	thread := s.Thread("C1", parent)
	require.Len(t, thread, 1)
	assert.Equal(t, "reply", thread[0].Text)

	t.Run("update", func(t *testing.T) {
		_, _, _, err := api.UpdateMessageContext(ctx, "C1", parent, slackapi.MsgOptionText("edited", false), slackapi.MsgOptionBlocks())
		require.NoError(t, err)
		m, ok := s.Message("C1", parent)
		require.True(t, ok)
		assert.Equal(t, "edited", m.Text)
		assert.Nil(t, m.Blocks, "blocks=[] clears the blocks")
		assert.NotNil(t, m.Metadata, "metadata left out is kept")
	})
	t.Run("update of a missing message", func(t *testing.T) {
		_, _, _, err := api.UpdateMessageContext(ctx, "C1", "1.000001", slackapi.MsgOptionText("x", false))
		assert.EqualError(t, err, "message_not_found")
	})
	t.Run("reply to a missing thread", func(t *testing.T) {
		_, _, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("x", false), slackapi.MsgOptionTS("1.000001"))
		assert.EqualError(t, err, "thread_not_found")
	})
	t.Run("unknown channel", func(t *testing.T) {
		s.SetChannels("C1")
		defer s.locked(func() { s.channels = nil })
		_, _, err := api.PostMessageContext(ctx, "C2", slackapi.MsgOptionText("x", false))
		assert.EqualError(t, err, "channel_not_found")
	})
	t.Run("replies carry metadata on request", func(t *testing.T) {
		msgs, _, _, err := api.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{
			ChannelID: "C1", Timestamp: parent, IncludeAllMetadata: true})
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		assert.Equal(t, "ticketsync_ticket", msgs[0].Metadata.EventType)
		assert.Equal(t, parent, msgs[1].ThreadTimestamp)
		assert.Equal(t, BotUserID, msgs[1].User)
	})
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	api := client(s, DefaultToken)
	long := strings.Repeat("é", 3001)
	cases := []struct {
		name string
		opts []slackapi.MsgOption
		want string
	}{
		{"no text", nil, "no_text"},
		{"text over 40000", []slackapi.MsgOption{slackapi.MsgOptionText(strings.Repeat("a", 40001), false)}, "msg_too_long"},
		{"section over 3000", []slackapi.MsgOption{slackapi.MsgOptionBlocks(
			slackapi.NewSectionBlock(slackapi.NewTextBlockObject("mrkdwn", long, false, false), nil, nil))}, "invalid_blocks"},
		{"header over 150", []slackapi.MsgOption{slackapi.MsgOptionBlocks(
			slackapi.NewHeaderBlock(slackapi.NewTextBlockObject("plain_text", strings.Repeat("h", 151), false, false)))}, "invalid_blocks"},
		{"button text over 75", []slackapi.MsgOption{slackapi.MsgOptionBlocks(slackapi.NewActionBlock("a",
			slackapi.NewButtonBlockElement("x", "v", slackapi.NewTextBlockObject("plain_text", strings.Repeat("b", 76), false, false))))}, "invalid_blocks"},
		{"51 blocks", []slackapi.MsgOption{slackapi.MsgOptionBlocks(dividers(51)...)}, "invalid_blocks"},
		{"50 blocks fit", []slackapi.MsgOption{slackapi.MsgOptionText("t", false), slackapi.MsgOptionBlocks(dividers(50)...)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := api.PostMessageContext(ctx, "C1", tc.opts...)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			var se slackapi.SlackErrorResponse
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.want, se.Err)
			if tc.want == "invalid_blocks" {
				assert.NotEmpty(t, se.ResponseMetadata.Messages, "the broken limit is named")
			}
		})
	}
}

func dividers(n int) []slackapi.Block {
	out := make([]slackapi.Block, n)
	for i := range out {
		out[i] = slackapi.NewDividerBlock()
	}
	return out
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	api := client(s, DefaultToken)
	post := func() error {
		_, _, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("x", false))
		return err
	}

	s.RateLimitNext(1, 1500*time.Millisecond)
	var rl *slackapi.RateLimitedError
	require.ErrorAs(t, post(), &rl)
	assert.Equal(t, 2*time.Second, rl.RetryAfter, "Retry-After is whole seconds, rounded up")

	s.Fail5xxNext(1)
	var sc slackapi.StatusCodeError
	require.ErrorAs(t, post(), &sc)
	assert.Equal(t, 500, sc.Code)

	s.FailNext(2, "not_in_channel")
	assert.EqualError(t, post(), "not_in_channel")
	assert.EqualError(t, post(), "not_in_channel")
	require.NoError(t, post())

	s.EchoAuthNext(1)
	assert.EqualError(t, post(), "invalid_auth: received "+DefaultToken)

	calls := s.Calls()
	var codes []string
	for _, c := range calls {
		codes = append(codes, c.Error)
	}
	assert.Equal(t, []string{"http_429", "http_500", "not_in_channel", "not_in_channel", "", "invalid_auth: received " + DefaultToken}, codes)
	assert.Len(t, s.Messages("C1"), 1, "failed calls post nothing")

	t.Run("latency", func(t *testing.T) {
		s.SetLatency(30 * time.Millisecond)
		defer s.SetLatency(0)
		start := time.Now()
		require.NoError(t, post())
		assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	})
	t.Run("reset", func(t *testing.T) {
		s.FailNext(5, "x")
		s.Reset()
		require.NoError(t, post())
		assert.Len(t, s.Calls(), 1)
	})
}

func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	api := client(s, DefaultToken)
	post := func(channel string) error {
		_, _, err := api.PostMessageContext(ctx, channel, slackapi.MsgOptionText("x", false))
		return err
	}
	s.SetRateLimit("chat.postMessage", 2, 1500*time.Millisecond)

	require.NoError(t, post("C1"))
	require.NoError(t, post("C1"), "the burst")
	var rl *slackapi.RateLimitedError
	require.ErrorAs(t, post("C1"), &rl)
	// The next token is at most 1.5 s away: whole seconds, rounded up.
	assert.Equal(t, 2*time.Second, rl.RetryAfter)
	require.NoError(t, post("C2"), "a bucket per channel")
	_, err := api.AuthTestContext(ctx)
	require.NoError(t, err, "a limit per method")
	assert.Equal(t, 1, s.RateLimited())
	assert.Len(t, s.Messages("C1"), 2, "a refused post is not posted")

	s.RateLimitNext(1, time.Second)
	require.ErrorAs(t, post("C2"), &rl, "RateLimitNext still works beside a limit")
	assert.Equal(t, 2, s.RateLimited(), "both kinds of 429 are counted")

	t.Run("refill", func(t *testing.T) {
		s.SetRateLimit("chat.postMessage", 1, 20*time.Millisecond)
		require.NoError(t, post("C3"))
		require.ErrorAs(t, post("C3"), &rl)
		assert.Equal(t, time.Second, rl.RetryAfter, "under a second is still Retry-After: 1")
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, post("C3"), "one token back after every")
	})
	t.Run("reset refills and keeps the limit", func(t *testing.T) {
		s.SetRateLimit("chat.postMessage", 1, time.Hour)
		require.NoError(t, post("C1"))
		require.Error(t, post("C1"))
		s.Reset()
		assert.Zero(t, s.RateLimited())
		require.NoError(t, post("C1"))
		require.Error(t, post("C1"))
	})
	t.Run("lifted", func(t *testing.T) {
		s.SetRateLimit("chat.postMessage", 0, 0)
		for range 5 {
			require.NoError(t, post("C1"))
		}
	})
}

func TestUsersInfo(t *testing.T) {
	s := New(t)
	s.AddUser(User{ID: "U1", Name: "ann", RealName: "Ann Agent", Email: "ann@example.com"})
	u, err := client(s, DefaultToken).GetUserInfoContext(context.Background(), "U1")
	require.NoError(t, err)
	assert.Equal(t, "ann@example.com", u.Profile.Email)
	_, err = client(s, DefaultToken).GetUserInfoContext(context.Background(), "U2")
	assert.EqualError(t, err, "user_not_found")
}

func TestConcurrentPostsGetDistinctTimestamps(t *testing.T) {
	s := New(t)
	api := client(s, DefaultToken)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			_, _, err := api.PostMessageContext(context.Background(), "C1", slackapi.MsgOptionText(fmt.Sprint(i), false))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := map[string]bool{}
	for _, m := range s.Messages("C1") {
		assert.False(t, seen[m.TS], "duplicate ts %s", m.TS)
		seen[m.TS] = true
	}
	assert.Len(t, seen, 50)
}

func jsonDecode(resp *http.Response, v any) error {
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

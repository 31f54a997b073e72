package bridge

import (
	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/testkit"
)

// Short names for what these tests share with the daemon's (see testkit).
const (
	testKey       = testkit.TaskIPKey
	supportAddr   = testkit.SupportAddr
	testChannel   = testkit.Channel
	signingSecret = testkit.SigningSecret
	oauthClient   = testkit.OAuthClient
	oauthSecret   = testkit.OAuthSecret
	scWait        = testkit.Wait
	scTick        = testkit.Tick
)

type (
	mailServer    = testkit.MailServer
	historyServer = testkit.HistoryServer
	responses     = testkit.Responses
)

var (
	mailMsg         = testkit.MailMsg
	addrOf          = testkit.AddrOf
	hasFlag         = testkit.HasFlag
	storedFlags     = testkit.StoredFlags
	supportMailbox  = testkit.SupportMailbox
	subjects        = testkit.Subjects
	header          = testkit.Header
	mailText        = testkit.MailText
	mailParts       = testkit.MailParts
	mailsContaining = testkit.MailsContaining
	mailWith        = testkit.MailWith
	waitMails       = testkit.WaitMails
	postAction      = testkit.PostAction
	newResponses    = testkit.NewResponses
	storedThread    = testkit.StoredThread
	testLogger      = logtest.Logger
)

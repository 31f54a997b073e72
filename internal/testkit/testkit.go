// Package testkit holds what the tests of internal/bridge and
// internal/daemon share: mail built and read, signed Slack requests, the
// response_url sink, and the constants the fakes are set up with. It
// imports neither package: bridge's own tests import it.
package testkit

import "time"

const (
	// TaskIPKey is the secret key the TaskIP fake accepts.
	TaskIPKey = "test-secret-key"
	// SupportAddr is the support mailbox customers write to.
	SupportAddr = "support@example.com"
	// Channel is the Slack channel tickets are posted in.
	Channel = "C0TICKETS"
	// SigningSecret is the Slack app's; requests signed otherwise are
	// refused.
	SigningSecret = "test-signing-secret"
	// OAuthClient and OAuthSecret are the app the identity provider fake
	// knows.
	OAuthClient, OAuthSecret = "ticketsync-app", "test-oauth-app-secret"
)

// Wait and Tick bound a scenario's waits: long enough for a loaded
// machine running the race detector, polled often enough to stay fast.
const (
	Wait = 10 * time.Second
	Tick = 10 * time.Millisecond
)

// Package mapping holds ticketsync's decisions as pure functions: what an
// inbound email means for TaskIP, how a ticket change reads in Slack, what a
// Slack command asks of the API. Nothing here does I/O, so every rule is a
// row in a table test.
package mapping

import (
	"time"
)

// Email is what the intake decision needs of a parsed message. The bridge
// fills it from the mail package's Message; keeping a separate type keeps
// this package free of the mail side's dependencies.
type Email struct {
	MessageID   string   // without angle brackets; empty when the mail has none
	InReplyTo   []string // without angle brackets
	References  []string // oldest first, without angle brackets
	FromName    string
	FromEmail   string // lowercased
	To, Cc      []string
	DeliveredTo []string
	ReturnPath  string // raw header value; "" when absent
	// EmptyReturnPath is the null sender "<>" of bounces (RFC 5321 4.5.5).
	EmptyReturnPath bool
	Subject         string
	Date            time.Time

	AutoSubmitted string
	Precedence    string
	XAutoreply    string
	XAutorespond  string
	ListID        string
	XTicketsync   bool // any X-Ticketsync* header
	ContentType   string
	XPriority     string
	Importance    string

	Text     string // full text body (HTML already converted)
	Stripped string // Text without quoted history and signature
	// Attachments lists the files that will be uploaded; Refused those that
	// were over the limit.
	Attachments []File
	Refused     []File
	Problems    []string
	Size        int64
	// TooLarge is set when the whole message was over the size limit and
	// only its header was read.
	TooLarge bool
}

// File names an attachment for the texts that mention it.
type File struct {
	Name string
	Size int64
	// Reason says why a refused file was refused, as the parser saw it.
	Reason string
}

package bridge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// IntakeMetrics are the intake flow's Prometheus series.
type IntakeMetrics struct {
	fetched     prometheus.Counter
	actions     *prometheus.CounterVec // by action: create, reply, reopen_reply, note
	skipped     *prometheus.CounterVec // by reason
	quarantined prometheus.Counter
	duplicates  prometheus.Counter
	connected   prometheus.Gauge
	lastPoll    prometheus.Gauge
}

// NewIntakeMetrics registers the series with reg; nil keeps them
// unregistered (tests, or metrics switched off).
func NewIntakeMetrics(reg prometheus.Registerer) *IntakeMetrics {
	m := &IntakeMetrics{
		fetched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketsync_emails_fetched_total", Help: "Emails read from the mailbox.",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketsync_emails_processed_total", Help: "Emails turned into TaskIP writes, by action.",
		}, []string{"action"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketsync_emails_skipped_total", Help: "Emails recorded and not acted on, by reason.",
		}, []string{"reason"}),
		quarantined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketsync_emails_quarantined_total", Help: "Emails that can never succeed, moved aside.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketsync_emails_duplicate_total", Help: "Emails seen again and recognised by Message-ID.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ticketsync_imap_connected", Help: "1 while the IMAP session is up.",
		}),
		lastPoll: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ticketsync_imap_last_poll_timestamp_seconds", Help: "When the mailbox was last read through.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.fetched, m.actions, m.skipped, m.quarantined, m.duplicates, m.connected, m.lastPoll)
	}
	return m
}

// OutboxMetrics are the outbound mail flow's Prometheus series.
type OutboxMetrics struct {
	sent           *prometheus.CounterVec // by kind
	failed         *prometheus.CounterVec // by kind and status: failed, unknown
	retries        prometheus.Counter
	acksSuppressed prometheus.Counter
	depth          prometheus.Gauge
	duration       *prometheus.HistogramVec // by outcome
}

// NewOutboxMetrics registers the series with reg; nil keeps them
// unregistered.
func NewOutboxMetrics(reg prometheus.Registerer) *OutboxMetrics {
	m := &OutboxMetrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketsync_outbox_sent_total", Help: "Emails the SMTP server accepted, by kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketsync_outbox_failed_total", Help: "Emails not delivered (failed) or possibly not delivered (unknown), by kind.",
		}, []string{"kind", "status"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketsync_outbox_retries_total", Help: "Temporary SMTP failures that were scheduled for another attempt.",
		}),
		acksSuppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketsync_outbox_acknowledgements_suppressed_total", Help: "Acknowledgements not sent because the sender had one within the hour.",
		}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ticketsync_outbox_depth", Help: "Emails waiting in the outbox.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ticketsync_smtp_send_duration_seconds", Help: "SMTP deliveries by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failed, m.retries, m.acksSuppressed, m.depth, m.duration)
	}
	return m
}

// WatchMetrics are the ticket watch's Prometheus series.
type WatchMetrics struct {
	polls   *prometheus.CounterVec // by outcome: ok, failed
	parents prometheus.Counter
	changes *prometheus.CounterVec // thread replies by change kind
}

// NewWatchMetrics registers the series with reg; nil keeps them
// unregistered.
func NewWatchMetrics(reg prometheus.Registerer) *WatchMetrics {
	m := &WatchMetrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketsync_taskip_polls_total", Help: "Ticket watch polls of TaskIP, by outcome.",
		}, []string{"outcome"}),
		parents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketsync_slack_threads_started_total", Help: "Tickets given a Slack thread (parent message).",
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketsync_slack_thread_updates_total", Help: "Ticket changes posted to their Slack thread, by kind.",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.polls, m.parents, m.changes)
	}
	return m
}

// CommandsMetrics are the Slack inbound flow's Prometheus series.
type CommandsMetrics struct {
	commands *prometheus.CounterVec // slash commands and buttons, by verb and outcome
	thread   *prometheus.CounterVec // thread messages, by kind (note, reply) and outcome
	retries  prometheus.Counter
}

// NewCommandsMetrics registers the series with reg; nil keeps them
// unregistered.
func NewCommandsMetrics(reg prometheus.Registerer) *CommandsMetrics {
	m := &CommandsMetrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketsync_slack_commands_total", Help: "Slash commands and parent-message actions, by verb and outcome (ok, failed, refused).",
		}, []string{"verb", "outcome"}),
		thread: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketsync_slack_thread_messages_total", Help: "Agents' thread messages, by kind (note, reply) and outcome (ok, failed, refused).",
		}, []string{"kind", "outcome"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketsync_slack_events_duplicate_total", Help: "Slack events delivered again and applied once.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.commands, m.thread, m.retries)
	}
	return m
}

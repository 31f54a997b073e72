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

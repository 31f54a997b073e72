package daemon

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/webserver"
)

// rejectionReasons are the reason label's values, created at zero so an
// alert on their increase has a series from the start.
var rejectionReasons = []string{
	slack.RefusedMissingSignature, slack.RefusedStaleTimestamp, slack.RefusedBadSignature,
	slack.RefusedTooLarge, slack.RefusedBusy, slack.RefusedBodyTimeout, slack.RefusedReadFailed,
	slack.RefusedNotFound,
	webserver.ReasonEvicted, webserver.ReasonRefused, webserver.ReasonHeaderTimeout,
}

// httpRejections counts what the HTTP listeners refuse and logs it at a
// bounded rate: one Warn line per reason a minute at most, with the count
// held back since the previous one. The endpoints are public, so a line per
// refusal would let anyone fill the log.
type httpRejections struct {
	total *prometheus.CounterVec
	log   *webserver.LogLimiter
}

// newHTTPRejections registers ticketsync_http_rejected_total with reg;
// nil keeps it unregistered.
func newHTTPRejections(reg prometheus.Registerer, log *slog.Logger) *httpRejections {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketsync_http_rejected_total",
		Help: "Requests refused and connections closed by the HTTP listeners before any handler ran, by reason.",
	}, []string{"reason"})
	for _, r := range rejectionReasons {
		total.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(total)
	}
	return &httpRejections{total: total, log: &webserver.LogLimiter{Logger: log}}
}

// reject counts one refusal; err, when not nil, is the last example shown
// in the log line (it never holds a secret: see slack.Verifier).
func (h *httpRejections) reject(reason string, err error) {
	h.total.WithLabelValues(reason).Inc()
	args := []any{"reason", reason}
	if err != nil {
		args = append(args, "err", err)
	}
	h.log.Warn(reason, "http: request refused", args...)
}

package retry

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDelay(t *testing.T) {
	for _, tc := range []struct {
		name          string
		base, ceiling time.Duration
		n             int
		jitter        float64
		want          time.Duration
	}{
		{"first retry, no jitter", time.Second, time.Minute, 1, 0, 500 * time.Millisecond},
		{"first retry, full jitter", time.Second, time.Minute, 1, 1, time.Second},
		{"doubles", time.Second, time.Minute, 3, 0, 2 * time.Second},
		{"capped", time.Second, 10 * time.Second, 10, 1, 10 * time.Second},
		{"huge n does not overflow", time.Second, time.Hour, 1 << 20, 1, time.Hour},
		{"ceiling below base is base", time.Second, time.Millisecond, 5, 1, time.Second},
		{"zero base is a second", 0, time.Minute, 1, 1, time.Second},
		{"jitter clamped", time.Second, time.Minute, 1, 7, time.Second},
		{"n of zero is the first step", time.Second, time.Minute, 0, 0, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Delay(tc.base, tc.ceiling, tc.n, tc.jitter))
		})
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	step := 100 * time.Millisecond
	for i := range 10 {
		d := b.Next()
		assert.GreaterOrEqual(t, d, step/2, "attempt %d", i)
		assert.LessOrEqual(t, d, step, "attempt %d", i)
		step = min(2*step, b.Max)
	}
	assert.Equal(t, 10, b.Attempts())
	b.Reset()
	assert.LessOrEqual(t, b.Next(), 100*time.Millisecond, "the first wait after Reset is at most Min")

	var zero Backoff
	assert.LessOrEqual(t, zero.Next(), time.Second)
	for range 100 {
		assert.LessOrEqual(t, zero.Next(), 5*time.Minute)
	}

	// Jittered: repeated draws at the same attempt differ.
	seen := map[time.Duration]bool{}
	for range 20 {
		j := Backoff{Min: time.Millisecond, Max: time.Hour}
		for range 8 {
			j.Next()
		}
		seen[j.Next()] = true
	}
	assert.Greater(t, len(seen), 1)
}

func TestSleep(t *testing.T) {
	assert.NoError(t, Sleep(context.Background(), time.Millisecond))
	assert.NoError(t, Sleep(context.Background(), 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled, "an ended context cuts the wait short")
	assert.ErrorIs(t, Sleep(ctx, 0), context.Canceled)
}

package notify

import (
	"context"
	"maps"
	"slices"
	"time"
)

// flush tries every delivery that is due and returns when the next one
// is (zero: none pending). The mutex is not held during a delivery, so
// Emit never waits for a target.
func (n *Notifier) flush(ctx context.Context) time.Time {
	for _, j := range n.due() {
		if ctx.Err() != nil {
			break
		}
		n.attempt(ctx, j)
	}
	return n.nextDue()
}

type job struct {
	p *pending
	s sender
}

// due lists the deliveries to try now, oldest first, and drops those
// that are too old or whose target is gone.
func (n *Notifier) due() []job {
	now := n.opts.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loadLocked()
	var out []job
	for _, name := range slices.Sorted(maps.Keys(n.pending)) {
		p := n.pending[name]
		t := n.targets[p.Target]
		switch {
		case t == nil:
			n.dropLocked(p, "the target is no longer configured")
		case now.Sub(p.Event.Time) > MaxAge:
			n.dropLocked(p, "not acknowledged within "+MaxAge.String())
		case !p.NextAt.After(now):
			out = append(out, job{p: p, s: t.s})
		}
	}
	slices.SortStableFunc(out, func(a, b job) int { return a.p.Event.Time.Compare(b.p.Event.Time) })
	return out
}

func (n *Notifier) dropLocked(p *pending, why string) {
	n.log.Error("notification dropped", "event", "notify_dropped", "target", p.Target, "notify_event", p.Event.Kind, "cert", p.Event.Cert,
		"event_id", p.Event.ID, "attempts", p.Attempts, "reason", why)
	n.count(p.Target, p.Event.Kind, ResultDropped)
	delete(n.pending, p.file())
	if err := n.q.remove(p); err != nil {
		n.log.Error("cannot remove dropped notification", "error", err)
	}
}

// attempt delivers p once and records the verdict.
func (n *Notifier) attempt(ctx context.Context, j job) {
	p := j.p
	err := j.s.send(ctx, p.Event)
	if err != nil && ctx.Err() != nil {
		return // shutting down: not the target's failure; the next run retries
	}
	log := n.log.With("target", p.Target, "notify_event", p.Event.Kind, "cert", p.Event.Cert, "event_id", p.Event.ID)
	n.mu.Lock()
	defer n.mu.Unlock()
	p.Attempts++
	if err == nil {
		log.Info("notification delivered", "event", "notify_delivered", "attempts", p.Attempts)
		n.count(p.Target, p.Event.Kind, ResultDelivered)
		delete(n.pending, p.file())
		if rerr := n.q.remove(p); rerr != nil {
			log.Error("cannot remove delivered notification; it may be sent again", "error", rerr)
		}
		return
	}
	p.NextAt = n.opts.Now().Add(backoff(p.Attempts))
	p.LastErr = err.Error()
	log.Warn("notification not delivered; will retry", "event", "notify_failed", "error", err, "attempts", p.Attempts,
		"retry_at", p.NextAt.UTC().Format(time.RFC3339))
	n.count(p.Target, p.Event.Kind, ResultFailed)
	if perr := n.q.put(p); perr != nil {
		log.Error("cannot record notification attempt", "error", perr)
	}
}

// backoff doubles from backoffMin after each failed attempt, up to
// backoffMax.
func backoff(attempts int) time.Duration {
	d := backoffMin
	for i := 1; i < attempts && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

func (n *Notifier) nextDue() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	for _, p := range n.pending {
		if n.targets[p.Target] == nil {
			continue
		}
		if next.IsZero() || p.NextAt.Before(next) {
			next = p.NextAt
		}
	}
	return next
}

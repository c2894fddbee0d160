package push

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Run pings every connection each PingInterval, closes those whose token
// was revoked elsewhere or has expired (one LiveTokens call per interval for
// all of them), and fills delivery gaps from the store. Pings go from a
// goroutine of their own, so that a slow store never delays them. When ctx
// ends Run does what Shutdown does, with a short bound, and returns nil once
// every connection has gone. It returns an error only when called a second
// time.
func (h *Hub) Run(ctx context.Context) error {
	if !h.started.CompareAndSwap(false, true) {
		return errors.New("push: Hub.Run called twice")
	}
	var pinger sync.WaitGroup
	pinger.Go(func() { h.pingLoop(ctx) })
	h.storeLoop(ctx)
	pinger.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeWait)
	defer cancel()
	h.Shutdown(shutdownCtx)
	return nil
}

// pingLoop queues a ping on every connection each PingInterval, until ctx
// ends.
func (h *Hub) pingLoop(ctx context.Context) {
	ticker := time.NewTicker(h.pingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			for _, c := range h.conns(nil) {
				c.send(h.ping)
			}
		}
	}
}

// storeLoop sweeps the tokens each PingInterval and fills gaps each
// gapCheck, until ctx ends.
func (h *Hub) storeLoop(ctx context.Context) {
	sweep := time.NewTicker(h.pingInterval)
	defer sweep.Stop()
	gaps := time.NewTicker(gapCheck)
	defer gaps.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			h.sweepTokens(ctx)
		case <-gaps.C:
			h.fillGaps(ctx)
		}
	}
}

// sweepTokens closes the connections whose token has expired or is no
// longer live in the store.
func (h *Hub) sweepTokens(ctx context.Context) {
	all := h.conns(nil)
	if len(all) == 0 {
		return
	}
	ids := make([]int64, len(all))
	for i, c := range all {
		ids[i] = c.session.TokenID
	}
	readCtx, cancel := context.WithTimeout(ctx, storeTimeout)
	live, err := h.store.LiveTokens(readCtx, ids)
	cancel()
	if err != nil && ctx.Err() == nil {
		h.log.Warn("push: check the connections' tokens", slog.Any("error", err))
	}
	// The store decides: a token's expiry may have been moved since the
	// connection opened. The expiry the session began with says only why a
	// token is gone, and decides alone while the store does not answer.
	now := time.Now()
	for _, c := range all {
		exp := c.session.ExpiresAt
		expired := exp != nil && !now.Before(*exp)
		switch {
		case err == nil && !live[c.session.TokenID] && expired:
			c.close(causeTokenExpired)
		case err == nil && !live[c.session.TokenID]:
			c.close(causeTokenRevoked)
		case err != nil && expired:
			c.close(causeTokenExpired)
		}
	}
}

// fillGaps reads from the store the rows that groups have waited for longer
// than gapBound, and delivers them.
func (h *Hub) fillGaps(ctx context.Context) {
	type gap struct {
		g     *group
		next  int64 // the first missing seq
		until int64 // the first seq held after it
	}
	var gaps []gap
	now := time.Now()
	h.mu.RLock()
	for _, g := range h.groups {
		g.mu.Lock()
		if g.next > 0 && len(g.held) > 0 && now.Sub(g.gapSince) >= gapBound {
			gaps = append(gaps, gap{g, g.next, g.firstHeld()})
		}
		g.mu.Unlock()
	}
	h.mu.RUnlock()

	for _, gp := range gaps {
		readCtx, cancel := context.WithTimeout(ctx, storeTimeout)
		ns, err := h.store.Inbox(readCtx, gp.g.userID, gp.next-1, int(min(gp.until-gp.next, replayPage)))
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("push: read missing inbox rows", slog.Any("error", err), slog.Int64("user_id", gp.g.userID), slog.Int64("seq", gp.next))
			}
			continue
		}
		found := false
		for _, n := range ns {
			m, err := encodeNotification(n)
			if err != nil {
				h.log.Error("push: drop a notification", slog.Any("error", err), slog.Int64("user_id", n.UserID), slog.Int64("seq", n.Seq))
				continue
			}
			found = found || n.Seq == gp.next
			gp.g.offer(m, now)
		}
		if !found {
			gp.g.skip(gp.next)
		}
	}
}

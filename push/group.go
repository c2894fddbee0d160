package push

import (
	"log/slog"
	"sync"
	"time"
)

// group is one user's connections, and the state that keeps the user's
// notifications in seq order. Its fields are guarded by mu, except userID
// and hub, which never change.
type group struct {
	hub    *Hub
	userID int64

	mu    sync.Mutex
	conns map[*conn]struct{}
	// dead is set when the group's last connection leaves and the hub
	// forgets it; a Notify that found it before then delivers nothing.
	dead bool
	// next is the seq the group must deliver next; 0 until a connection
	// has read the user's inbox head.
	next int64
	// held are the rows that came before next did, by seq.
	held map[int64]*message
	// gapSince is when the group started waiting for next, while held is
	// not empty.
	gapSince time.Time
}

// newGroup returns an empty group for the user.
func newGroup(h *Hub, userID int64) *group {
	return &group{hub: h, userID: userID, conns: make(map[*conn]struct{})}
}

// offer delivers m, a notification, in its seq order: at once if it is the
// next one (with the held ones that follow it), later if it came early, and
// never if it came before (a duplicate). now is when it came.
func (g *group) offer(m *message, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.dead:
	case g.next != 0 && m.seq < g.next:
		// Delivered already.
	case g.next != 0 && m.seq == g.next:
		g.deliver(m)
		g.next++
		g.drain(now)
	default:
		if _, ok := g.held[m.seq]; ok {
			return
		}
		if g.held == nil {
			g.held = make(map[int64]*message)
		}
		if len(g.held) == 0 {
			g.gapSince = now
		}
		g.held[m.seq] = m
		if len(g.held) > g.hub.maxHeld {
			g.overflow()
		}
	}
}

// start tells the group the user's inbox head, newest, that connection c
// read after it registered, and returns the seq c must replay up to: rows
// after it reach c live. The first connection sets next; later ones may
// find next past newest (another connection read a newer head), and replay
// up to it.
func (g *group) start(newest int64, now time.Time) (replayTo int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next == 0 {
		g.next = newest + 1
		for seq := range g.held {
			if seq <= newest {
				delete(g.held, seq)
			}
		}
		g.drain(now)
	}
	return max(newest, g.next-1)
}

// deliver queues m on every connection of the group. Called with g.mu held.
func (g *group) deliver(m *message) {
	for c := range g.conns {
		c.send(m)
	}
}

// drain delivers the held rows that follow on from next. Called with g.mu
// held.
func (g *group) drain(now time.Time) {
	for {
		m, ok := g.held[g.next]
		if !ok {
			break
		}
		delete(g.held, g.next)
		g.deliver(m)
		g.next++
	}
	if len(g.held) > 0 {
		g.gapSince = now
	}
}

// firstHeld returns the lowest seq held. Called with g.mu held, and held not
// empty.
func (g *group) firstHeld() int64 {
	first := int64(0)
	for seq := range g.held {
		if first == 0 || seq < first {
			first = seq
		}
	}
	return first
}

// skip gives up on the row seq, which the store does not have (its user's
// rows were deleted, or pruned): if the group still waits for it, it
// delivers the held rows from the next one it has.
func (g *group) skip(seq int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead || g.next != seq || len(g.held) == 0 {
		return
	}
	first := g.firstHeld()
	g.hub.log.Warn("push: inbox rows missing from the store; skipping them",
		slog.Int64("user_id", g.userID), slog.Int64("from_seq", seq), slog.Int64("to_seq", first-1))
	g.next = first
	g.drain(time.Now())
}

// overflow gives up on ordering the rows held: too many came while one was
// missing. It closes the group's connections with 1013, so that their
// clients resume from the store, and forgets next, which the next
// connection reads again. Called with g.mu held.
func (g *group) overflow() {
	g.hub.log.Warn("push: too many notifications held waiting for a missing one; closing the user's connections",
		slog.Int64("user_id", g.userID), slog.Int64("seq", g.next), slog.Int("held", len(g.held)))
	for c := range g.conns {
		c.close(causeTryAgain)
	}
	g.held = nil
	g.next = 0
}

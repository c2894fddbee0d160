package storage_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

// checkInterval is how often the tests' leaders check their lock.
const checkInterval = 150 * time.Millisecond

// handover bounds how long another node takes to lead once the leader has
// let go of the lock, or lost it.
const handover = 3 * time.Second

// leads records the lead functions of a test's nodes as they run: each
// runs until its context ends.
type leads struct {
	mu sync.Mutex
	// running counts the lead functions running, by node; terms, those
	// started.
	running map[string]int
	terms   map[string]int
	// most is the most lead functions that ran at once.
	most int
}

func newLeads() *leads { return &leads{running: map[string]int{}, terms: map[string]int{}} }

// lead returns the lead function of a node.
func (l *leads) lead(node string) func(context.Context) {
	return func(ctx context.Context) {
		l.mu.Lock()
		l.running[node]++
		l.terms[node]++
		now := 0
		for _, n := range l.running {
			now += n
		}
		l.most = max(l.most, now)
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		l.running[node]--
		l.mu.Unlock()
	}
}

// leaders returns the nodes whose lead function is running, sorted.
func (l *leads) leaders() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var nodes []string
	for node, n := range l.running {
		if n > 0 {
			nodes = append(nodes, node)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// mostAtOnce returns the most lead functions that ran at once.
func (l *leads) mostAtOnce() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.most
}

// termsOf returns how many lead functions a node started.
func (l *leads) termsOf(node string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.terms[node]
}

// candidate is a node running an election.
type candidate struct {
	node     string
	db       *storage.DB
	election *storage.Election
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	err      error
}

// runElection runs, until the test ends, the election name on db as node,
// recording its terms in l.
func runElection(t *testing.T, db *storage.DB, name, node string, lead func(context.Context)) *candidate {
	t.Helper()
	c := &candidate{node: node, db: db, done: make(chan error, 1)}
	c.election = db.NewElection(storage.ElectionOptions{
		Name: name, Node: node, CheckInterval: checkInterval,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { c.done <- c.election.Run(ctx, lead) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop cancels the election's context and waits for Run to return, at
// most 10 s. It returns what Run returned.
func (c *candidate) stop(t *testing.T) error {
	t.Helper()
	c.stopOnce.Do(func() {
		c.cancel()
		c.err = c.wait(t, 10*time.Second)
	})
	return c.err
}

// wait waits up to within for Run to return, and returns what it returned.
func (c *candidate) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err // for stop, later
		return err
	case <-time.After(within):
		t.Fatalf("node %s: Run still running %v after it should have returned", c.node, within)
		return nil
	}
}

// waitFor polls cond until it holds, and fails the test when it does not
// within the given time. It returns how long it waited.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// checkLeader fails the test unless the store says node leads the
// election, since at.
func checkLeader(t *testing.T, what string, e *storage.Election, node string, at time.Time) {
	t.Helper()
	got, err := e.Leader(t.Context())
	if err != nil {
		t.Fatalf("%s: Leader: %v", what, err)
	}
	if got.Node != node || !sameTime(got.Since, at) {
		t.Fatalf("%s: Leader = %+v, want node %q since %v", what, got, node, at)
	}
}

// lockFree reports whether no session holds a MySQL named lock.
func lockFree(t *testing.T, raw *sql.DB, name string) bool {
	t.Helper()
	var free int
	if err := raw.QueryRowContext(t.Context(), `SELECT IS_FREE_LOCK(CONCAT(?, '.', LEFT(SHA2(DATABASE(), 256), 16)))`, name).Scan(&free); err != nil {
		t.Fatalf("IS_FREE_LOCK(%q): %v", name, err)
	}
	return free == 1
}

// lockName returns a lock name that no other test uses: MySQL's named locks
// are the server's, not one database's.
func lockName() string { return "tocsin.test." + rand.Text() }

func TestElectionLeadsAlone(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		name := lockName()
		l := newLeads()
		if got, err := e.db.NewElection(storage.ElectionOptions{Name: name, Node: "a"}).Leader(t.Context()); err != nil || got != (storage.Leader{}) {
			t.Fatalf("Leader before any node led = %+v, %v; want the zero Leader", got, err)
		}
		c := runElection(t, e.db, name, "a", l.lead("a"))
		if c.election.Node() != "a" {
			t.Fatalf("Node() = %q, want %q", c.election.Node(), "a")
		}
		waitFor(t, "the only node leads", handover, func() bool { return c.election.Leading() && len(l.leaders()) == 1 })
		checkLeader(t, "leading", c.election, "a", e.clock.Stored())
		if e.target.Driver == storage.DriverMySQL && lockFree(t, e.raw, name) {
			t.Fatalf("the lock %q is free while node a leads", name)
		}

		if err := c.stop(t); err != nil {
			t.Fatalf("Run returned %v after its context ended, want nil", err)
		}
		if c.election.Leading() || len(l.leaders()) != 0 {
			t.Fatalf("after Run returned: Leading() = %v, lead functions running on %v; want neither", c.election.Leading(), l.leaders())
		}
		if e.target.Driver == storage.DriverMySQL && !lockFree(t, e.raw, name) {
			t.Fatalf("the lock %q is held after Run returned", name)
		}
		// The row names the last leader.
		checkLeader(t, "after Run returned", c.election, "a", e.clock.Stored())
	})
}

func TestElectionEndsWithStore(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		name := lockName()
		l := newLeads()
		c := runElection(t, e.db, name, "a", l.lead("a"))
		waitFor(t, "the only node leads", handover, func() bool { return c.election.Leading() && len(l.leaders()) == 1 })

		if err := e.db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// Close waits for the election to end.
		if c.election.Leading() || len(l.leaders()) != 0 {
			t.Fatalf("after Close: Leading() = %v, lead functions running on %v; want neither", c.election.Leading(), l.leaders())
		}
		if err := c.wait(t, time.Second); err != nil {
			t.Fatalf("Run returned %v when the store closed, want nil", err)
		}
		if e.target.Driver == storage.DriverMySQL && !lockFree(t, e.raw, name) {
			t.Fatalf("the lock %q is held after the store closed", name)
		}
		err := e.db.NewElection(storage.ElectionOptions{Name: name, Node: "a"}).Run(t.Context(), l.lead("a"))
		if err == nil {
			t.Fatal("Run on a closed store returned nil, want an error")
		}
	})
}

func TestElectionLeadsAgain(t *testing.T) {
	t.Parallel()
	forEachEnv(t, func(t *testing.T, e *env) {
		l := newLeads()
		first := true
		lead := l.lead("a")
		// The first term's lead function returns at once; the next ones
		// run until their context ends.
		c := runElection(t, e.db, lockName(), "a", func(ctx context.Context) {
			if first {
				first = false
				return
			}
			lead(ctx)
		})
		waitFor(t, "a new term after the lead function returned", handover, func() bool { return len(l.leaders()) == 1 })
		if !c.election.Leading() {
			t.Fatal("Leading() = false in the second term")
		}
	})
}

// twoNodes is two stores on one MySQL database, each a node running the
// same election.
type twoNodes struct {
	name  string
	raw   *sql.DB
	l     *leads
	nodes map[string]*candidate
	clock *fakeClock
}

// newTwoNodes starts nodes a and b on a fresh MySQL database, and waits
// until one of them leads.
func newTwoNodes(t *testing.T) *twoNodes {
	t.Helper()
	target := testdb.MySQL(t)
	f := &twoNodes{name: lockName(), raw: openRaw(t, target), l: newLeads(), nodes: map[string]*candidate{}, clock: newFakeClock()}
	for i, node := range []string{"a", "b"} {
		db := openStore(t, target, f.clock)
		if i == 0 {
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
		}
		f.nodes[node] = runElection(t, db, f.name, node, f.l.lead(node))
	}
	waitFor(t, "one node leads", handover, func() bool { return len(f.l.leaders()) == 1 })
	return f
}

// leader returns the leading node and the other one, checking that exactly
// one leads, and says so in the store.
func (f *twoNodes) leader(t *testing.T, what string) (leader, other *candidate) {
	t.Helper()
	got := f.l.leaders()
	if len(got) != 1 {
		t.Fatalf("%s: lead functions running on %v, want one node", what, got)
	}
	leader, other = f.nodes["a"], f.nodes["b"]
	if got[0] == "b" {
		leader, other = other, leader
	}
	if !leader.election.Leading() || other.election.Leading() {
		t.Fatalf("%s: Leading() is %v on the leader %s and %v on %s, want true and false", what,
			leader.election.Leading(), leader.node, other.election.Leading(), other.node)
	}
	for _, c := range []*candidate{leader, other} {
		checkLeader(t, what+", seen from "+c.node, c.election, leader.node, f.clock.Stored())
	}
	return leader, other
}

func TestElectionOneLeader(t *testing.T) {
	t.Parallel()
	f := newTwoNodes(t)
	first, _ := f.leader(t, "at start")
	// It stays so over several checks of the lock.
	for i := range 5 {
		time.Sleep(checkInterval)
		if leader, _ := f.leader(t, fmt.Sprintf("after %d checks", i+1)); leader != first {
			t.Fatalf("the lead moved from %s to %s with nothing happening", first.node, leader.node)
		}
	}
	if f.l.termsOf("a")+f.l.termsOf("b") != 1 || f.l.mostAtOnce() != 1 {
		t.Fatalf("terms: a %d, b %d, at most %d at once; want one term", f.l.termsOf("a"), f.l.termsOf("b"), f.l.mostAtOnce())
	}
}

func TestElectionHandsOver(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// oust makes the leader stop leading.
		oust func(t *testing.T, f *twoNodes, leader *candidate)
	}{
		{name: "the leader's store closes", oust: func(t *testing.T, _ *twoNodes, leader *candidate) {
			if err := leader.db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := leader.wait(t, time.Second); err != nil {
				t.Fatalf("Run returned %v when the store closed, want nil", err)
			}
		}},
		{name: "the leader's context ends", oust: func(t *testing.T, _ *twoNodes, leader *candidate) {
			if err := leader.stop(t); err != nil {
				t.Fatalf("Run returned %v after its context ended, want nil", err)
			}
		}},
		{name: "the lock's connection is killed", oust: func(t *testing.T, f *twoNodes, leader *candidate) {
			var id int64
			if err := f.raw.QueryRowContext(t.Context(), `SELECT IS_USED_LOCK(CONCAT(?, '.', LEFT(SHA2(DATABASE(), 256), 16)))`, f.name).Scan(&id); err != nil {
				t.Fatalf("IS_USED_LOCK(%q): %v", f.name, err)
			}
			if _, err := f.raw.ExecContext(t.Context(), fmt.Sprintf(`KILL %d`, id)); err != nil {
				t.Fatalf("KILL %d: %v", id, err)
			}
			took := waitFor(t, "the old leader's lead function ends", 10*checkInterval, func() bool {
				return !slices.Contains(f.l.leaders(), leader.node)
			})
			t.Logf("the old leader stopped %v after its connection was killed", took)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTwoNodes(t)
			leader, other := f.leader(t, "before")
			f.clock.Advance(time.Minute)
			c.oust(t, f, leader)
			took := waitFor(t, "the other node leads", handover, func() bool {
				return other.election.Leading() && slices.Equal(f.l.leaders(), []string{other.node})
			})
			t.Logf("%s led %v after %s", other.node, took, c.name)
			if leader.election.Leading() {
				t.Fatalf("the old leader %s still says it leads", leader.node)
			}
			checkLeader(t, "after the handover", other.election, other.node, f.clock.Stored())
			if most := f.l.mostAtOnce(); most != 1 {
				t.Fatalf("%d lead functions ran at once, want 1", most)
			}
			// The new leader keeps the lead.
			time.Sleep(3 * checkInterval)
			if got := f.l.leaders(); !slices.Equal(got, []string{other.node}) {
				t.Fatalf("lead functions running on %v after the handover, want %s alone", got, other.node)
			}
			if leader.election.Leading() {
				t.Fatalf("the old leader %s leads again", leader.node)
			}
		})
	}
}

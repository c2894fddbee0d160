package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/internal/testlog"
	"github.com/tocsinhq/tocsin/push"
)

func TestHelloReplayAndLive(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		// Rows committed while alice has no connection are dropped by the
		// hub and replayed from the store.
		e.publish(alice.ID)
		e.publish(alice.ID)

		live := e.dial(alice, "")
		live.hello(alice, 2)
		ns := e.publish(alice.ID)
		f := live.next()
		if f.Type != "notification" || f.Seq != 3 || f.Event != "fired" || f.Alert == nil ||
			f.Alert.ID != ns[0].Alert.ID || f.Alert.State != "firing" || f.At.IsZero() {
			t.Fatalf("live notification %s, want seq 3 firing alert %d", f.raw, ns[0].Alert.ID)
		}
		if !strings.HasPrefix(string(f.raw), `{"type":"notification","seq":3,`) {
			t.Fatalf("notification %s does not start with its type and seq", f.raw)
		}

		head := int64(3)
		for _, since := range []int64{0, 1, 3, 100} {
			cl := e.dial(alice, "since="+strconv.FormatInt(since, 10))
			cl.hello(alice, head)
			// Since past the head is the head: nothing to replay.
			want := span(min(since, head)+1, head)
			if got := cl.notifications(len(want)); !slices.Equal(got, want) {
				t.Fatalf("since=%d: replayed %v, want %v", since, got, want)
			}
			// Then live, with nothing in between, on every connection.
			head = e.publish(alice.ID)[0].Seq
			if got := cl.notifications(1); got[0] != head {
				t.Fatalf("since=%d: after the replay got seq %d, want the live %d", since, got[0], head)
			}
			if got := live.notifications(1); got[0] != head {
				t.Fatalf("since=%d: the first connection got seq %d, want %d", since, got[0], head)
			}
			cl.ws.Close()
		}
	})
}

func TestUsersSeeOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		bob := e.newUser("bob", auth.RoleResponder, nil)
		laptop, phone := e.dial(alice, ""), e.dial(alice, "")
		// The server's handler takes the user from the token alone.
		desk := e.dial(bob, "user="+strconv.FormatInt(alice.ID, 10))
		laptop.hello(alice, 0)
		phone.hello(alice, 0)
		desk.hello(bob, 0)
		eventually(t, "two users online", func() bool {
			return e.counter("tocsin_ws_users_online") == 2 && e.counter("tocsin_ws_connections") == 3
		})

		e.publish(alice.ID)
		e.publish(bob.ID)
		both := e.publish(alice.ID, bob.ID)
		e.publish(alice.ID)

		var laptopFrames, phoneFrames []frame
		for range 3 {
			laptopFrames, phoneFrames = append(laptopFrames, laptop.next()), append(phoneFrames, phone.next())
		}
		for i, want := range []int64{1, 2, 3} {
			if laptopFrames[i].Seq != want || phoneFrames[i].Seq != want {
				t.Fatalf("alice's devices got seqs %d and %d, want %d", laptopFrames[i].Seq, phoneFrames[i].Seq, want)
			}
			// One encoding for the whole group: the same bytes on each device.
			if !bytes.Equal(laptopFrames[i].raw, phoneFrames[i].raw) {
				t.Fatalf("alice's devices got different bytes for seq %d:\n%s\n%s", want, laptopFrames[i].raw, phoneFrames[i].raw)
			}
		}
		if laptopFrames[1].Alert.ID != both[0].Alert.ID {
			t.Fatalf("alice's seq 2 is alert %d, want %d", laptopFrames[1].Alert.ID, both[0].Alert.ID)
		}
		if got := desk.notifications(2); !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("bob got seqs %v, want 1, 2", got)
		}
		if e.counter("tocsin_ws_messages_sent_total") < 9 {
			t.Fatalf("messages sent %v, want at least 9", e.counter("tocsin_ws_messages_sent_total"))
		}
	})
}

// TestOrderUnderOutOfOrderNotify: rows notified from several goroutines in
// a shuffled order, some twice and one never, reach the client once each,
// in seq order; the one never notified is read from the store.
func TestOrderUnderOutOfOrderNotify(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		c := e.dial(alice, "")
		c.hello(alice, 0)
		const n = 40
		var rows []alerts.Notification
		for range n {
			rows = append(rows, e.commit("", alice.ID)...)
		}
		lost := rows[6] // seq 7: its commit's answer was lost
		rows = slices.Delete(rows, 6, 7)
		rows = append(rows, rows[:10]...) // duplicates
		rand.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })

		var wg sync.WaitGroup
		for part := range 4 {
			wg.Go(func() {
				for i := part; i < len(rows); i += 4 {
					e.hub.Notify(rows[i : i+1])
				}
			})
		}
		wg.Wait()
		start := time.Now()
		if got := c.notifications(n); !slices.Equal(got, span(1, n)) {
			t.Fatalf("got seqs %v, want 1..%d", got, n)
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Fatalf("the lost row %d came after %s", lost.Seq, waited)
		}
		// The lost row's Notify, late, is a duplicate.
		e.hub.Notify([]alerts.Notification{lost})
		if got := e.publish(alice.ID)[0].Seq; c.notifications(1)[0] != got {
			t.Fatalf("after the late duplicate, want seq %d next", got)
		}
	})
}

// TestResumeNoGapNoDuplicate: while writers commit a steady stream of rows
// for two users, notifying out of order, clients disconnect and reconnect
// with since at random moments; each ends with every seq of its user once,
// in order.
func TestResumeNoGapNoDuplicate(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		bob := e.newUser("bob", auth.RoleResponder, nil)
		const perWriter = 60
		writing := make(chan struct{})
		var writers sync.WaitGroup
		for w := range 3 {
			writers.Go(func() {
				for i := range perWriter {
					users := []int64{alice.ID, bob.ID}
					if (i+w)%3 == 0 {
						users = users[:1]
					}
					ns := e.commit("", users...)
					if i%7 == 0 {
						time.Sleep(time.Millisecond) // a Notify late, behind another writer's
					}
					e.hub.Notify(ns)
				}
			})
		}
		go func() {
			writers.Wait()
			close(writing)
		}()

		var clients sync.WaitGroup
		results := make([][]int64, 4)
		who := []user{alice, alice, bob, bob}
		for i := range who {
			clients.Go(func() { results[i] = e.resumeUntil(who[i], writing) })
		}
		clients.Wait()
		<-writing
		for i, u := range who {
			_, head, err := e.db.InboxBounds(context.Background(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(results[i], span(1, head)) {
				t.Fatalf("client %d of %s got %d seqs, want 1..%d; %s", i, u.Name, len(results[i]), head, diff(results[i], head))
			}
		}
	})
}

// diff describes how got differs from 1..head: the seqs missing, repeated
// or out of order.
func diff(got []int64, head int64) string {
	var missing, repeated, disordered []int64
	seen := map[int64]bool{}
	for i, s := range got {
		if seen[s] {
			repeated = append(repeated, s)
		}
		seen[s] = true
		if i > 0 && s < got[i-1] {
			disordered = append(disordered, s)
		}
	}
	for s := int64(1); s <= head; s++ {
		if !seen[s] {
			missing = append(missing, s)
		}
	}
	return fmt.Sprintf("missing %v, repeated %v, out of order %v", missing, repeated, disordered)
}

// resumeUntil connects as u again and again, with since its last seq, reads
// a random number of messages each time, and returns the seqs it read once
// writing is closed and it has read up to the user's final head.
func (e *env) resumeUntil(u user, writing <-chan struct{}) []int64 {
	var (
		got   []int64
		last  int64
		final int64 = -1 // the user's head once writing is done
	)
	for range 1000 {
		if final < 0 {
			select {
			case <-writing:
				_, head, err := e.db.InboxBounds(context.Background(), u.ID)
				if err != nil {
					e.t.Errorf("InboxBounds: %v", err)
					return got
				}
				final = head
			default:
			}
		}
		if final >= 0 && last >= final {
			return got
		}
		ws, _, err := (&websocket.Dialer{HandshakeTimeout: readWait}).Dial(e.url+"?since="+strconv.FormatInt(last, 10),
			http.Header{"Authorization": {"Bearer " + u.token}})
		if err != nil {
			e.t.Errorf("dial: %v", err)
			return got
		}
		want := 1 + rand.IntN(15)
		for read := -1; read < want; read++ { // hello, then up to want rows
			ws.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, data, err := ws.ReadMessage()
			if err != nil {
				break
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil {
				e.t.Errorf("bad frame %s: %v", data, err)
				break
			}
			switch f.Type {
			case "hello":
			case "notification":
				got, last = append(got, f.Seq), f.Seq
			default:
				e.t.Errorf("unexpected %s", data)
			}
		}
		ws.Close()
	}
	e.t.Errorf("%s: not done after 1000 rounds", u.Name)
	return got
}

func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{smallBuffers: true, push: func(o *push.Options) {
		o.SendQueue = 8
		o.PingInterval = 5 * time.Second // the slow client answers no ping
	}}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		// The slow client reads nothing, through a small receive buffer.
		slowDialer := &websocket.Dialer{HandshakeTimeout: readWait, ReadBufferSize: 1024,
			NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetReadBuffer(4096)
				}
				return c, err
			}}
		e.shrink.Store(true)
		slow, _, err := e.dialRaw(alice, "", slowDialer)
		e.shrink.Store(false)
		if err != nil {
			t.Fatal(err)
		}
		fast := e.dial(alice, "")
		fast.hello(alice, 0)
		const n = 100
		big := strings.Repeat("x", 4000)
		published := make(chan struct{})
		t.Cleanup(func() { <-published }) // before the store closes
		go func() {
			defer close(published)
			for range n {
				e.hub.Notify(e.commit(big, alice.ID))
			}
		}()

		// Once the hub gives up on the slow client, it reads again: what
		// was sent, then 1008, within the write timeout.
		testlog.WaitFor(t, e.log, regexp.MustCompile(`slow consumer`), nil)
		var last int64
		for {
			slow.SetReadDeadline(time.Now().Add(readWait))
			f, err := readFrame(slow)
			if err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "slow consumer" {
					t.Fatalf("slow client: %v, want close 1008 slow consumer", err)
				}
				break
			}
			switch f.Type {
			case "hello":
				// The connection may have joined its group after the
				// first rows were published: it starts after its head.
				last = f.Seq
			case "notification":
				if f.Seq != last+1 {
					t.Fatalf("slow client got seq %d after %d", f.Seq, last)
				}
				last = f.Seq
			}
		}
		<-published
		if last >= n {
			t.Fatalf("the slow client got all %d rows: it was not slow", n)
		}
		// The fast client got everything meanwhile.
		if got := fast.notifications(n); !slices.Equal(got, span(1, n)) {
			t.Fatalf("the fast client got %v, want 1..%d", got, n)
		}
		// It resumes and loses nothing.
		again := e.dial(alice, "since="+strconv.FormatInt(last, 10))
		again.hello(alice, n)
		if got := again.notifications(int(n - last)); !slices.Equal(got, span(last+1, n)) {
			t.Fatalf("resumed with %v, want %d..%d", got, last+1, n)
		}
		eventually(t, "the slow close counted", func() bool {
			return e.counter("tocsin_ws_closes_total", "reason", "slow_consumer") == 1
		})
	})
}

// TestWriteDeadline: a peer that stops reading, while its queue stays under
// the bound, is cut once a write has waited WriteTimeout; the other device
// keeps receiving meanwhile, and nothing waits on the dead one.
func TestWriteDeadline(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{smallBuffers: true, push: func(o *push.Options) {
		o.SendQueue = 1000
		o.WriteTimeout = 300 * time.Millisecond
		o.PingInterval = 5 * time.Second // the dead peer answers no ping
	}}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		deadDialer := &websocket.Dialer{HandshakeTimeout: readWait, ReadBufferSize: 1024,
			NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetReadBuffer(4096)
				}
				return c, err
			}}
		e.shrink.Store(true)
		dead, _, err := e.dialRaw(alice, "", deadDialer)
		e.shrink.Store(false)
		if err != nil {
			t.Fatal(err)
		}
		defer dead.Close()
		fast := e.dial(alice, "")
		fast.hello(alice, 0)
		const n = 60 // 240 KB: more than the buffers hold, far less than the queue
		big := strings.Repeat("x", 4000)
		for range n {
			e.hub.Notify(e.commit(big, alice.ID))
		}
		if got := fast.notifications(n); !slices.Equal(got, span(1, n)) {
			t.Fatalf("the fast client got %v, want 1..%d", got, n)
		}
		eventually(t, "the dead peer cut after a write timed out", func() bool {
			return e.counter("tocsin_ws_closes_total", "reason", "gone") == 1 &&
				e.counter("tocsin_ws_connections") == 1
		})
	})
}

// TestLongReplayWithLive: a replay of several pages, with rows committed
// and notified while it runs, reaches the client in order, once each.
func TestLongReplayWithLive(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		const stored, live = 1200, 40
		for range stored / 100 {
			var events []alerts.Event
			for range 100 {
				ls := alerts.Labels{"alertname": fmt.Sprintf("alert-%d", e.alerts.Add(1))}
				events = append(events, alerts.Event{Fingerprint: ls.Fingerprint(), Labels: ls, Status: alerts.StatusFiring, Source: "test"})
			}
			if _, err := e.db.CommitEvents(context.Background(), events, router{alice.ID}); err != nil {
				t.Fatal(err)
			}
		}
		published := make(chan struct{})
		c := e.dial(alice, "since=0")
		go func() {
			defer close(published)
			for range live {
				e.publish(alice.ID)
			}
		}()
		f := c.next()
		if f.Type != "hello" || f.Seq < stored {
			t.Fatalf("first message %s, want hello at seq %d or more", f.raw, stored)
		}
		<-published
		if got := c.notifications(stored + live); !slices.Equal(got, span(1, stored+live)) {
			t.Fatalf("got %d seqs, want 1..%d in order: %v", len(got), stored+live, got)
		}
	})
}

// TestMissingRowsSkipped: a row that never comes and is not in the store
// (deleted meanwhile) is skipped after the gap bound, not waited for
// forever.
func TestMissingRowsSkipped(t *testing.T) {
	t.Parallel()
	forEachEnv(t, envOptions{}, func(t *testing.T, e *env) {
		alice := e.newUser("alice", auth.RoleResponder, nil)
		c := e.dial(alice, "")
		c.hello(alice, 0)
		var ns []alerts.Notification
		for range 5 {
			ns = append(ns, e.commit("", alice.ID)...)
		}
		if _, err := e.raw().Exec(`DELETE FROM inbox WHERE user_id = ? AND seq IN (2, 3)`, alice.ID); err != nil {
			t.Fatal(err)
		}
		e.hub.Notify([]alerts.Notification{ns[0], ns[4], ns[3]})
		if got := c.notifications(3); !slices.Equal(got, []int64{1, 4, 5}) {
			t.Fatalf("got %v, want 1, 4, 5", got)
		}
		testlog.WaitFor(t, e.log, regexp.MustCompile(`skipping them.*from_seq=2 to_seq=3`), nil)
	})
}

// failingStore is a store whose reads fail once fail is set.
type failingStore struct {
	push.Store
	fail atomic.Bool
}

var errStoreDown = errors.New("store down")

func (s *failingStore) InboxBounds(ctx context.Context, userID int64) (int64, int64, error) {
	if s.fail.Load() {
		return 0, 0, errStoreDown
	}
	return s.Store.InboxBounds(ctx, userID)
}

func (s *failingStore) Inbox(ctx context.Context, userID, since int64, limit int) ([]alerts.Notification, error) {
	if s.fail.Load() {
		return nil, errStoreDown
	}
	return s.Store.Inbox(ctx, userID, since, limit)
}

func (s *failingStore) LiveTokens(ctx context.Context, ids []int64) (map[int64]bool, error) {
	if s.fail.Load() {
		return nil, errStoreDown
	}
	return s.Store.LiveTokens(ctx, ids)
}

// TestStoreDown: a connection whose replay cannot read the store is closed
// with 1011; connections open meanwhile stay, and their token checks wait
// for the store.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	store := &failingStore{}
	e := newEnv(t, testdb.SQLite(t), envOptions{push: func(o *push.Options) {
		store.Store = o.Store
		o.Store = store
		o.PingInterval = 100 * time.Millisecond
	}})
	alice := e.newUser("alice", auth.RoleResponder, nil)
	open := e.dial(alice, "")
	open.hello(alice, 0)
	store.fail.Store(true)
	for _, query := range []string{"", "since=0"} {
		c := e.dial(alice, query)
		c.wantClose(websocket.CloseInternalServerErr, "internal error")
	}
	testlog.WaitFor(t, e.log, regexp.MustCompile(`check the connections' tokens.*store down`), nil)
	seq := e.publish(alice.ID)[0].Seq
	if got := open.notifications(1); got[0] != seq {
		t.Fatalf("the open connection got seq %d, want %d", got[0], seq)
	}
	eventually(t, "two internal closes counted", func() bool {
		return e.counter("tocsin_ws_closes_total", "reason", "internal") == 2
	})
}

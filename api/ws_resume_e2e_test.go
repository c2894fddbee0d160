package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tocsinhq/tocsin/api"
	"github.com/tocsinhq/tocsin/push"
)

// End-to-end tests of resume under load and of slow consumers; the
// helpers are in ws_e2e_test.go and wsclient_test.go.

// While writers commit a steady stream of alerts routed to two users,
// clients of each disconnect (cleanly or not) and reconnect with since at
// random moments. Every client ends with every seq of its user exactly
// once, in order, each the row GET /inbox shows.
func TestWSResumeUnderLoad(t *testing.T) {
	forEachPush(t, nil, nil, func(t *testing.T, e *env) {
		ana, anaTok := e.newUser("ana", "responder")
		bob, bobTok := e.newUser("bob", "responder")
		e.routeByTo(ana)
		e.routeByTo(bob)
		am := e.newBearerSource("am", "alertmanager")

		// Eight writers at once keep the four alert workers committing
		// concurrently, so that one user's rows reach the hub out of order.
		const writers, posts, devices = 8, 20, 2 // posts per writer; devices per user
		type device struct {
			name   string
			user   user
			token  string
			got    []wsMessage
			stats  resumeStats
			err    error
			finish chan int64 // the user's final head, once the writers are done
		}
		var devs []*device
		for _, u := range []struct {
			u   user
			tok string
		}{{ana, anaTok.Token}, {bob, bobTok.Token}} {
			for d := range devices {
				devs = append(devs, &device{name: fmt.Sprintf("%s-%d", u.u.Name, d), user: u.u, token: u.tok, finish: make(chan int64, 1)})
			}
		}

		var wg sync.WaitGroup
		for i, d := range devs {
			rng := rand.New(rand.NewPCG(5, uint64(i)))
			wg.Go(func() { d.got, d.stats, d.err = resumeClient(t, e, d.name, d.user.ID, d.token, rng, d.finish) })
		}
		var writing sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			writing.Go(func() {
				for i := range posts {
					to := []string{"ana", "bob", "ana bob"}[(w+i)%3]
					r := e.do("POST", "/hooks/am", am.Secret, amPayload("firing", map[string]string{"alertname": "R", "w": itoa(int64(w)), "i": itoa(int64(i)), "to": to}))
					if r.status != http.StatusAccepted {
						errs <- fmt.Errorf("writer %d post %d: status %d %s", w, i, r.status, r.body)
						return
					}
				}
			})
		}
		writing.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		rows := map[int64][]notification{ana.ID: e.inbox(anaTok.Token), bob.ID: e.inbox(bobTok.Token)}
		for _, d := range devs {
			d.finish <- int64(len(rows[d.user.ID]))
		}
		wg.Wait()

		var total resumeStats
		for _, d := range devs {
			total.add(d.stats)
			if d.err != nil {
				t.Errorf("%s: %v", d.name, d.err)
				continue
			}
			wantRows(t, d.name, d.got, rows[d.user.ID])
		}
		t.Logf("%d rows for ana, %d for bob; %+v", len(rows[ana.ID]), len(rows[bob.ID]), total)
		if total.overlapped == 0 && !t.Failed() {
			t.Errorf("no connection got both a replay and live rows: the test did not reach the overlap (%+v)", total)
		}
	})
}

// resumeStats counts what a resuming client saw.
type resumeStats struct {
	sessions   int // connections made
	replayed   int // rows received with seq <= the hello's
	live       int // rows received with seq > the hello's
	overlapped int // sessions that got both replayed and live rows
	cut        int // sessions ended by cutting the TCP connection
}

func (s *resumeStats) add(o resumeStats) {
	s.sessions += o.sessions
	s.replayed += o.replayed
	s.live += o.live
	s.overlapped += o.overlapped
	s.cut += o.cut
}

// resumeClient connects and reconnects with since, reading a few rows or
// for a few milliseconds each time, until it has read up to the head that
// finish sends. Every row must be the one after the last it got. It runs on
// its own goroutine and returns its failure instead of failing t.
func resumeClient(t *testing.T, e *env, name string, userID int64, token string, rng *rand.Rand, finish <-chan int64) ([]wsMessage, resumeStats, error) {
	var (
		got   []wsMessage
		last  int64
		stats resumeStats
		head  int64 = -1
	)
	for {
		if head < 0 {
			select {
			case head = <-finish:
			default:
			}
		}
		d := wsDial{token: token, query: fmt.Sprintf("since=%d", last)}
		if stats.sessions%2 == 1 {
			d = wsDial{query: fmt.Sprintf("access_token=%s&since=%d", token, last)}
		}
		stats.sessions++
		c, hello, err := e.tryConnectWS(t, fmt.Sprintf("%s#%d", name, stats.sessions), d)
		if err != nil {
			return got, stats, err
		}
		if hello.User != userID || hello.Seq < last {
			return got, stats, fmt.Errorf("%s: hello %s, want user %d and seq >= %d", c.name, hello, userID, last)
		}
		// The last session reads up to the head; others read a few rows,
		// or for a few milliseconds.
		budget, until := rng.IntN(12), time.Now().Add(time.Duration(rng.IntN(40))*time.Millisecond)
		if head >= 0 {
			budget, until = -1, time.Now().Add(wsWait)
		}
		replayed, live := 0, 0
		for (head >= 0 && last < head) || (head < 0 && budget > 0) {
			wait := time.Until(until)
			if wait <= 0 {
				if head >= 0 {
					return got, stats, fmt.Errorf("%s: at seq %d after %s, want %d", c.name, last, wsWait, head)
				}
				break
			}
			m, err := c.nextErr(wait)
			if errors.Is(err, errClosed) {
				return got, stats, fmt.Errorf("%s: closed by the server: %v", c.name, c.closeErr(0))
			}
			if err != nil {
				continue // the time is up
			}
			if m.Type != "notification" || m.Seq != last+1 {
				return got, stats, fmt.Errorf("%s (since %d, hello %d): got %s after seq %d, want the notification of seq %d",
					c.name, last, hello.Seq, m, last, last+1)
			}
			got, last = append(got, m), m.Seq
			if m.Seq <= hello.Seq {
				replayed++
			} else {
				live++
			}
			budget--
		}
		stats.replayed += replayed
		stats.live += live
		if replayed > 0 && live > 0 {
			stats.overlapped++
		}
		if head >= 0 {
			// Nothing past the head may come.
			if m, err := c.nextErr(20 * time.Millisecond); err == nil {
				return got, stats, fmt.Errorf("%s: got %s past the head %d", c.name, m, head)
			}
			c.closeHandshake()
			return got, stats, nil
		}
		if rng.IntN(2) == 0 {
			c.close()
			stats.cut++
		} else {
			c.closeHandshake()
		}
	}
}

// bigPayload is an Alertmanager payload of n firing alerts, each with an
// annotation of size bytes, labelled to and i from first.
func bigPayload(to string, first, n, size int) []byte {
	type amAlert struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    string            `json:"startsAt"`
	}
	p := struct {
		Version string    `json:"version"`
		Status  string    `json:"status"`
		Alerts  []amAlert `json:"alerts"`
	}{Version: "4", Status: "firing"}
	pad := strings.Repeat("x", size)
	for i := first; i < first+n; i++ {
		p.Alerts = append(p.Alerts, amAlert{Status: "firing", Labels: map[string]string{"alertname": "Big", "i": itoa(int64(i)), "to": to},
			Annotations: map[string]string{"description": pad}, StartsAt: time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)})
	}
	b, _ := json.Marshal(p)
	return b
}

// readUpTo reads notifications until seq head, each the one after the
// last; it returns them.
func readUpTo(t testing.TB, c *wsClient, last, head int64) []wsMessage {
	t.Helper()
	var ms []wsMessage
	for last < head {
		m := c.nextOf("notification")
		if m.Seq != last+1 {
			t.Fatalf("%s: got seq %d after %d", c.name, m.Seq, last)
		}
		ms, last = append(ms, m), m.Seq
	}
	return ms
}

// A client that stops reading is closed with 1008 "slow consumer" once its
// queue is full, while the other devices of its user and other users get
// every row at once; it then resumes with since and loses nothing.
func TestWSSlowConsumer(t *testing.T) {
	const sendQueue = 8
	forEachPush(t,
		func(o *push.Options) { o.SendQueue, o.WriteTimeout = sendQueue, 5*time.Second },
		func(o *api.Options) { o.MaxBodyBytes = 4 << 20 },
		func(t *testing.T, e *env) {
			sam, samTok := e.newUser("sam", "responder")
			fay, fayTok := e.newUser("fay", "responder")
			e.routeByTo(sam)
			e.routeByTo(fay)
			am := e.newBearerSource("am", "alertmanager")

			// The slow device never reads, and its socket buffers little.
			slowConn, _, err := e.dialWS(wsDial{token: samTok.Token, rcvbuf: 4096})
			if err != nil {
				t.Fatal(err)
			}
			slow := newWSClient(t, "sam-slow", slowConn)
			fast := e.connectWS(t, "sam-fast", wsDial{token: samTok.Token})
			other := e.connectWS(t, "fay", wsDial{token: fayTok.Token})

			// Big alerts fill the TCP buffers, then the slow device's queue;
			// the others get every row after each post.
			const batch, size, maxAlerts = 8, 60_000, 400
			var head int64
			for sent := 0; !e.slowConsumerClosed(); sent += batch {
				if sent >= maxAlerts {
					t.Fatalf("%d alerts of %d bytes sent and the slow device is not closed", sent, size)
				}
				e.post("/hooks/am", am, bigPayload("sam fay", sent, batch, size)).decode(t, http.StatusAccepted, nil)
				readUpTo(t, fast, head, head+batch)
				readUpTo(t, other, head, head+batch)
				head += batch
			}
			t.Logf("the slow device was closed after %d alerts", head)

			// It reads what was buffered, then finds it was closed.
			slow.start()
			if m := slow.next(); m.Type != "hello" || m.Seq != 0 {
				t.Fatalf("slow device's first message %s, want hello seq 0", m)
			}
			var got []wsMessage
			for {
				m, err := slow.nextErr(wsWait)
				if err != nil {
					break
				}
				if m.Type != "notification" || m.Seq != int64(len(got))+1 {
					t.Fatalf("slow device got %s after seq %d", m, len(got))
				}
				got = append(got, m)
			}
			slow.wantClosed(websocket.ClosePolicyViolation, "slow consumer")
			if int64(len(got)) >= head {
				t.Errorf("the slow device got all %d rows before it was closed", head)
			}
			// It resumes: the rest is replayed, then live goes on.
			resumed := e.connectWS(t, "sam-resumed", wsDial{token: samTok.Token, query: fmt.Sprintf("since=%d", len(got))})
			got = append(got, readUpTo(t, resumed, int64(len(got)), head)...)
			e.marker(t, am, "M", "sam fay", resumed, fast, other)
			rows := e.inbox(samTok.Token)
			wantRows(t, "the slow device", got, rows[:len(rows)-1])
		})
}

// slowConsumerClosed reports whether the hub has closed a slow consumer,
// as its metrics or its log say.
func (e *env) slowConsumerClosed() bool {
	if strings.Contains(e.log.String(), "slow consumer") {
		return true
	}
	families, err := e.metrics.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tocsin_ws_closes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "slow") && m.GetCounter().GetValue() > 0 {
					return true
				}
			}
		}
	}
	return false
}

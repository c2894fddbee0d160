package api_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/internal/testdb"
	"github.com/tocsinhq/tocsin/storage"
)

// raw opens the test's database with its plain driver, bypassing the store,
// to sabotage it; closed when the test ends.
func (e *env) raw() *sql.DB {
	e.t.Helper()
	dsn := e.target.DSN
	if e.target.Driver == storage.DriverSQLite {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(e.target.Driver, dsn)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// A 202 is never answered for an alert that is not in the database, and a
// refused request leaves nothing of itself: a trigger makes the database
// fail every transaction that inserts an alert labelled "poison", in the
// middle of a multi-row insert, while senders post at once so that their
// requests share batches. Every request answered 202 has all its alerts
// stored; every request answered 503 has none.
func TestHookDurabilityStoreFailsMidBatch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		e := startWith(t, target, startOptions{alertQueue: func(o *alerts.AlertQueueOptions) { o.Workers, o.MaxBatch = 2, 40 }})
		trigger := map[string]string{
			storage.DriverSQLite: `CREATE TRIGGER poison BEFORE INSERT ON alerts WHEN NEW.labels LIKE '%poison%'
				BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
			storage.DriverMySQL: `CREATE TRIGGER poison BEFORE INSERT ON alerts FOR EACH ROW BEGIN
				IF NEW.labels LIKE '%poison%' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END`,
		}[target.Driver]
		if _, err := e.raw().ExecContext(context.Background(), trigger); err != nil {
			t.Fatal(err)
		}
		am := e.newBearerSource("am", "alertmanager")

		const senders, posts = 8, 25
		var (
			mu       sync.Mutex
			statuses = map[string]int{} // request -> status
			wg       sync.WaitGroup
		)
		for g := range senders {
			wg.Go(func() {
				for i := range posts {
					req := fmt.Sprintf("r%d-%d", g, i)
					second := "ok"
					if (g*posts+i)%7 == 3 {
						second = "poison"
					}
					body := amPayload("firing", map[string]string{"alertname": "D", "req": req, "n": "1"},
						map[string]string{"alertname": "D", "req": req, "n": second})
					r := e.do("POST", "/hooks/am", am.Secret, body)
					mu.Lock()
					statuses[req] = r.status
					mu.Unlock()
					if r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
						t.Errorf("%s: 503 without Retry-After", req)
					}
				}
			})
		}
		wg.Wait()

		stored := map[string]int{}
		for _, a := range e.alerts("") {
			stored[a.Labels["req"]]++
		}
		accepted, refused := 0, 0
		for req, status := range statuses {
			switch status {
			case http.StatusAccepted:
				accepted++
				if stored[req] != 2 {
					t.Errorf("%s was answered 202 but %d of its 2 alerts are stored", req, stored[req])
				}
			case http.StatusServiceUnavailable:
				refused++
				if stored[req] != 0 {
					t.Errorf("%s was answered 503 but %d of its alerts are stored", req, stored[req])
				}
			default:
				t.Errorf("%s: status %d, want 202 or 503", req, status)
			}
		}
		if accepted == 0 || refused == 0 {
			t.Errorf("%d accepted and %d refused: the test must see both", accepted, refused)
		}
		t.Logf("%d requests accepted, %d refused", accepted, refused)
	})
}

// With the store stuck, the alert queue fills, and further webhooks get 503
// with Retry-After at once; once the store answers again, every request
// that was queued is committed and answered 202.
func TestHookQueueFull(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		e := startWith(t, target, startOptions{alertQueue: func(o *alerts.AlertQueueOptions) { o.Size, o.Workers, o.MaxBatch = 2, 1, 1 }})
		am := e.newBearerSource("am", "alertmanager")

		// Hold the store's write lock from a connection of the test's own.
		ctx := context.Background()
		conn, err := e.raw().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		lock, unlock := "BEGIN IMMEDIATE", "ROLLBACK"
		if target.Driver == storage.DriverMySQL {
			lock, unlock = "LOCK TABLES alerts WRITE", "UNLOCK TABLES"
		}
		if _, err := conn.ExecContext(ctx, lock); err != nil {
			t.Fatal(err)
		}
		locked := true
		defer func() {
			if locked {
				conn.ExecContext(ctx, unlock)
			}
		}()

		// At most one request is in the stuck worker's batch and two wait
		// in the queue: of these twelve, nine or more must be refused.
		const requests = 12
		answers := make(chan response, requests)
		for i := range requests {
			go func() {
				answers <- e.do("POST", "/hooks/am", am.Secret, amPayload("firing", map[string]string{"alertname": "Q", "i": fmt.Sprint(i)}))
			}()
		}
		var got []response
		for range requests - 3 {
			got = append(got, <-answers)
		}
		for _, r := range got {
			r.wantError(t, http.StatusServiceUnavailable, "unavailable", "")
			if r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		}
		if _, err := conn.ExecContext(ctx, unlock); err != nil {
			t.Fatal(err)
		}
		locked = false
		accepted := 0
		for range 3 {
			switch r := <-answers; r.status {
			case http.StatusAccepted:
				accepted++
			case http.StatusServiceUnavailable:
			default:
				t.Errorf("status %d, want 202 or 503", r.status)
			}
		}
		if n := len(e.alerts("")); n != accepted {
			t.Errorf("%d alerts stored, want %d: one per request answered 202", n, accepted)
		}
	})
}

// With the store down, webhooks get 503 with Retry-After, which senders
// retry, never a 500.
func TestHookStoreDown(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		am := e.newBearerSource("am", "alertmanager")
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		r := e.do("POST", "/hooks/am", am.Secret, amPayload("firing", map[string]string{"alertname": "Down"}))
		r.wantError(t, http.StatusServiceUnavailable, "unavailable", "")
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	})
}

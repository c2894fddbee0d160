package app

import (
	"net/http"
	"sync"
)

// inflight counts the HTTP handlers running. Once closed it admits no more,
// answering 503, so that a forced shutdown can wait for the last handler to
// return before it closes the store.
type inflight struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// track wraps h so that every request it serves is counted.
func (f *inflight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.enter() {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"tocsin is shutting down"}}` + "\n"))
			return
		}
		defer f.wg.Done()
		h.ServeHTTP(w, r)
	})
}

// enter counts a handler in, unless closed.
func (f *inflight) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.wg.Add(1)
	return true
}

// closeAndWait admits no more handlers and waits for those running.
func (f *inflight) closeAndWait() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.wg.Wait()
}

// Package testlog lets a test read what the code under test logs while it
// runs, and wait for a line to appear.
package testlog

import (
	"bytes"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that one goroutine may write while another reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Wait bounds WaitFor.
const Wait = 10 * time.Second

// WaitFor polls b until re matches it and returns the submatches. It fails
// t after Wait, or at once when done (which may be nil) is closed first:
// the writer ended without logging the line.
func WaitFor(t testing.TB, b *Buffer, re *regexp.Regexp, done <-chan struct{}) []string {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		select {
		case <-done:
			if m := re.FindStringSubmatch(b.String()); m != nil {
				return m
			}
			t.Fatalf("the writer ended before logging a line matching %s; log:\n%s", re, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line matching %s within %s; log:\n%s", re, Wait, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// startProgress writes line() to w as a progress line every second until
// the returned stop is called; stop ends the line and waits for the
// goroutine.
func startProgress(ctx context.Context, w io.Writer, line func() string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				fmt.Fprintf(w, "\r%s\x1b[K", line())
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		fmt.Fprint(w, "\r\x1b[K")
	}
}

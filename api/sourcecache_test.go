package api

import (
	"context"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/sources"
)

// A read from the store that began before a change, and ends after the
// change cleared the cache, is answered but not kept: the next webhook
// reads the changed source.
func TestSourceCacheDropsAReadOlderThanAClear(t *testing.T) {
	stored := sources.Source{Name: "am", Version: 1}
	started, release := make(chan struct{}), make(chan struct{})
	slow := true
	read := func(context.Context, string) (sources.Source, error) {
		src := stored
		if slow {
			slow = false
			close(started)
			<-release
		}
		return src, nil
	}
	c := newSourceCache(read, time.Now)

	done := make(chan sources.Source)
	go func() {
		src, _ := c.get(t.Context(), "am")
		done <- src
	}()
	<-started
	stored = sources.Source{Name: "am", Version: 2} // the change commits...
	c.clear()                                       // ...and clears the cache
	close(release)
	if old := <-done; old.Version != 1 {
		t.Fatalf("the read in flight got version %d, want 1", old.Version)
	}
	if src, err := c.get(t.Context(), "am"); err != nil || src.Version != 2 {
		t.Errorf("after the change, get = version %d, %v; want version 2", src.Version, err)
	}
}

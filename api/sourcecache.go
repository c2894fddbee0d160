package api

import (
	"context"
	"sync"
	"time"

	"github.com/tocsinhq/tocsin/sources"
)

// sourceTTL is how long a source read for a webhook is used before it is
// read again. A change made through this node's API drops the cache at
// once; a change made on another node (a deleted source, a new secret)
// takes effect here within sourceTTL.
const sourceTTL = 5 * time.Second

// sourceCache keeps the sources that webhooks name, so that a webhook
// costs no read of the store while its source is fresh. Only sources that
// exist are kept: a name the store does not know is read again each time,
// so the cache holds no more entries than the store holds sources.
type sourceCache struct {
	read func(ctx context.Context, name string) (sources.Source, error)
	now  func() time.Time

	mu      sync.RWMutex
	entries map[string]cachedSource
	// generation counts the clears: a read from the store that began
	// before a clear, and so may hold the source as it was, is not kept.
	generation uint64
}

// cachedSource is a source and when it was read.
type cachedSource struct {
	source sources.Source
	readAt time.Time
}

// newSourceCache returns an empty cache over read, a store's SourceByName.
func newSourceCache(read func(ctx context.Context, name string) (sources.Source, error), now func() time.Time) *sourceCache {
	return &sourceCache{read: read, now: now, entries: make(map[string]cachedSource)}
}

// get returns the source named name: from the cache while it is fresh,
// else from the store, with the store's errors.
func (c *sourceCache) get(ctx context.Context, name string) (sources.Source, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[name]
	generation := c.generation
	c.mu.RUnlock()
	if ok && now.Sub(e.readAt) < sourceTTL && !now.Before(e.readAt) {
		return e.source, nil
	}
	src, err := c.read(ctx, name)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		delete(c.entries, name)
		return sources.Source{}, err
	case c.generation == generation:
		c.entries[name] = cachedSource{source: src, readAt: now}
	}
	return src, nil
}

// clear drops every entry: a source was created, changed or deleted.
func (c *sourceCache) clear() {
	c.mu.Lock()
	clear(c.entries)
	c.generation++
	c.mu.Unlock()
}

package mhost

import (
	"net"
	"sync"
	"time"
)

// zones caches the names and indexes of the network interfaces, for IPv6
// zones, as package net does for its own sockets: asking the kernel for
// them (a netlink dump of every link) on each datagram to or from a
// link-local address would cost far more than the datagram.
var zones zoneCache

// A zoneCache maps interface indexes to names and back. It is refreshed
// when it is a minute old, and on a miss when it is more than a second
// old; interfaces renamed or added in between are seen after that.
type zoneCache struct {
	mu      sync.RWMutex
	toIndex map[string]uint32
	toName  map[uint32]string
	updated time.Time
}

// zoneRefresh bounds how often a miss refreshes the cache; zoneMaxAge is
// how old the cache may grow before any lookup refreshes it.
const (
	zoneRefresh = time.Second
	zoneMaxAge  = time.Minute
)

// update refreshes the cache if it is older than zoneMaxAge, or, with
// force, older than zoneRefresh. It reports whether it did.
func (z *zoneCache) update(force bool) bool {
	now := time.Now()
	z.mu.RLock()
	age := now.Sub(z.updated)
	z.mu.RUnlock()
	if age < zoneRefresh || (age < zoneMaxAge && !force) {
		return false
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	toIndex := make(map[string]uint32, len(ifs))
	toName := make(map[uint32]string, len(ifs))
	for _, ifi := range ifs {
		toIndex[ifi.Name] = uint32(ifi.Index)
		toName[uint32(ifi.Index)] = ifi.Name
	}
	z.mu.Lock()
	z.toIndex, z.toName, z.updated = toIndex, toName, now
	z.mu.Unlock()
	return true
}

func (z *zoneCache) name(index uint32) (string, bool) {
	updated := z.update(false)
	z.mu.RLock()
	name, ok := z.toName[index]
	z.mu.RUnlock()
	if !ok && !updated && z.update(true) {
		z.mu.RLock()
		name, ok = z.toName[index]
		z.mu.RUnlock()
	}
	return name, ok
}

func (z *zoneCache) index(name string) (uint32, bool) {
	updated := z.update(false)
	z.mu.RLock()
	index, ok := z.toIndex[name]
	z.mu.RUnlock()
	if !ok && !updated && z.update(true) {
		z.mu.RLock()
		index, ok = z.toIndex[name]
		z.mu.RUnlock()
	}
	return index, ok
}

package esp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// SAD is the inbound security association database, RFC 4301 §4.4.2: SPI → SA. Lookups are
// lock-free reads of copy-on-write maps (the data plane looks up every packet; changes come
// only from the key manager). The maps are split into shards by SPI, so installing one SA
// copies 1/sadShards of the table, not all of it: installing n SAs costs O(n²/sadShards).
// Safe for concurrent use.
type SAD struct {
	mu       sync.Mutex
	shards   [sadShards]atomic.Pointer[map[uint32]*SA]
	n        atomic.Int64
	reserved map[uint32]bool // SPIs handed to a negotiation, not yet installed
}

const sadShards = 64

// sadShard picks a shard; SPIs are random (AllocSPI), but manual keying may number them, so
// the bits are mixed first.
func sadShard(spi uint32) int { return int((spi * 0x9e3779b1) >> (32 - 6)) }

// Lookup returns the inbound SA for spi, or nil.
func (d *SAD) Lookup(spi uint32) *SA {
	if m := d.shards[sadShard(spi)].Load(); m != nil {
		return (*m)[spi]
	}
	return nil
}

// Len is the number of installed SAs.
func (d *SAD) Len() int { return int(d.n.Load()) }

// update replaces spi's shard with a copy that fn edited. Caller holds mu.
func (d *SAD) update(spi uint32, fn func(m map[uint32]*SA)) {
	sh := &d.shards[sadShard(spi)]
	var old map[uint32]*SA
	if p := sh.Load(); p != nil {
		old = *p
	}
	next := make(map[uint32]*SA, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	fn(next)
	sh.Store(&next)
	d.n.Add(int64(len(next) - len(old)))
}

// Add installs an inbound SA; its SPI must be unused.
func (d *SAD) Add(sa *SA) error {
	if sa.cfg.Dir != Inbound {
		return errors.New("esp: only inbound SAs go into the SAD")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Lookup(sa.SPI()) != nil {
		return fmt.Errorf("esp: SPI 0x%08x already installed", sa.SPI())
	}
	d.update(sa.SPI(), func(m map[uint32]*SA) { m[sa.SPI()] = sa })
	delete(d.reserved, sa.SPI())
	return nil
}

// Remove uninstalls the SA with spi and returns it (nil if none). The caller closes it.
func (d *SAD) Remove(spi uint32) *SA {
	d.mu.Lock()
	defer d.mu.Unlock()
	sa := d.Lookup(spi)
	if sa == nil {
		return nil
	}
	d.update(spi, func(m map[uint32]*SA) { delete(m, spi) })
	return sa
}

// removeSA uninstalls sa if it is the SA installed under its SPI.
func (d *SAD) removeSA(sa *SA) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Lookup(sa.SPI()) != sa {
		return
	}
	d.update(sa.SPI(), func(m map[uint32]*SA) { delete(m, sa.SPI()) })
}

// All returns the installed SAs in no particular order.
func (d *SAD) All() []*SA {
	out := make([]*SA, 0, d.Len())
	for i := range d.shards {
		if m := d.shards[i].Load(); m != nil {
			for _, sa := range *m {
				out = append(out, sa)
			}
		}
	}
	return out
}

// AllocSPI picks a random inbound SPI (≥ 256, RFC 4303 §2.1) that is neither installed nor
// reserved, and reserves it until Add or Release.
func (d *SAD) AllocSPI(rand io.Reader) (uint32, error) {
	var b [4]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	for range 64 {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return 0, fmt.Errorf("esp: SPI allocation: %w", err)
		}
		spi := binary.BigEndian.Uint32(b[:])
		if spi < 256 || d.reserved[spi] || d.Lookup(spi) != nil {
			continue
		}
		if d.reserved == nil {
			d.reserved = map[uint32]bool{}
		}
		d.reserved[spi] = true
		return spi, nil
	}
	return 0, errors.New("esp: no free SPI found")
}

// Release returns a reserved SPI that will not be installed.
func (d *SAD) Release(spi uint32) {
	d.mu.Lock()
	delete(d.reserved, spi)
	d.mu.Unlock()
}

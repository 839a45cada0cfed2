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
// lock-free reads of a copy-on-write map (the data plane looks up every packet; changes come
// only from the key manager). Safe for concurrent use.
type SAD struct {
	mu       sync.Mutex
	m        atomic.Pointer[map[uint32]*SA]
	reserved map[uint32]bool // SPIs handed to a negotiation, not yet installed
}

// Lookup returns the inbound SA for spi, or nil.
func (d *SAD) Lookup(spi uint32) *SA {
	if m := d.m.Load(); m != nil {
		return (*m)[spi]
	}
	return nil
}

// Add installs an inbound SA; its SPI must be unused.
func (d *SAD) Add(sa *SA) error {
	if sa.cfg.Dir != Inbound {
		return errors.New("esp: only inbound SAs go into the SAD")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.snapshot()
	if _, ok := old[sa.SPI()]; ok {
		return fmt.Errorf("esp: SPI 0x%08x already installed", sa.SPI())
	}
	next := make(map[uint32]*SA, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[sa.SPI()] = sa
	delete(d.reserved, sa.SPI())
	d.m.Store(&next)
	return nil
}

// Remove uninstalls the SA with spi and returns it (nil if none). The caller closes it.
func (d *SAD) Remove(spi uint32) *SA {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.snapshot()
	sa, ok := old[spi]
	if !ok {
		return nil
	}
	next := make(map[uint32]*SA, len(old))
	for k, v := range old {
		if k != spi {
			next[k] = v
		}
	}
	d.m.Store(&next)
	return sa
}

// removeSA uninstalls sa if it is the SA installed under its SPI.
func (d *SAD) removeSA(sa *SA) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.snapshot()
	if old[sa.SPI()] != sa {
		return
	}
	next := make(map[uint32]*SA, len(old))
	for k, v := range old {
		if v != sa {
			next[k] = v
		}
	}
	d.m.Store(&next)
}

// All returns the installed SAs in no particular order.
func (d *SAD) All() []*SA {
	m := d.snapshot()
	out := make([]*SA, 0, len(m))
	for _, sa := range m {
		out = append(out, sa)
	}
	return out
}

func (d *SAD) snapshot() map[uint32]*SA {
	if m := d.m.Load(); m != nil {
		return *m
	}
	return nil
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
		if spi < 256 || d.reserved[spi] || d.snapshot()[spi] != nil {
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

package esp

// Flights under load: with several crypto workers, batches of several SAs in flight at once
// and jobs overtaking each other, every SA's packets still leave in read order with unique,
// gap-free sequence numbers, and arrive in receive order with duplicates refused.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

// countingDevice reads total numbered packets (spread round robin over nSA destinations) in
// batches of varying size, then blocks until closed; it records what is written to it.
type countingDevice struct {
	nSA, total int
	next       int
	closed     chan struct{}
	once       sync.Once
	mu         sync.Mutex
	written    [][]byte
}

func (d *countingDevice) BatchSize() int { return 128 }
func (d *countingDevice) Read(bufs [][]byte, sizes []int, off int) (int, error) {
	if d.next >= d.total {
		<-d.closed
		return 0, os.ErrClosed
	}
	n := min(1+d.next*7%64, d.total-d.next, len(bufs))
	src := netip.MustParseAddr("2001:db8:a::10")
	for i := range n {
		k := d.next + i
		p := udpPacket(src, stageRemote(k%d.nSA), 200+k%900, byte(k))
		binary.BigEndian.PutUint32(p[48:], uint32(k)) // the packet's number, in the UDP payload
		sizes[i] = copy(bufs[i][off:], p)
	}
	d.next += n
	return n, nil
}
func (d *countingDevice) Write(bufs [][]byte, off int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range bufs {
		d.written = append(d.written, append([]byte(nil), b[off:]...))
	}
	return len(bufs), nil
}
func (d *countingDevice) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.written)
}
func (d *countingDevice) Close() { d.once.Do(func() { close(d.closed) }) }

// recordBind records every datagram sent, and receives the chunks it is given, in order.
type recordBind struct {
	mu     sync.Mutex
	sent   [][]byte
	chunks [][][]byte
	closed chan struct{}
	once   sync.Once
}

func (r *recordBind) Open(uint16) ([]conn.ReceiveFunc, uint16, error) {
	return []conn.ReceiveFunc{r.receive}, 4500, nil
}
func (r *recordBind) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	r.mu.Lock()
	if len(r.chunks) == 0 {
		r.mu.Unlock()
		<-r.closed
		return 0, net.ErrClosed
	}
	c := r.chunks[0]
	r.chunks = r.chunks[1:]
	r.mu.Unlock()
	for i, d := range c {
		sizes[i] = copy(bufs[i], d)
		eps[i] = memEndpoint{siteAddrA}
	}
	return len(c), nil
}
func (r *recordBind) Close() error         { r.once.Do(func() { close(r.closed) }); return nil }
func (r *recordBind) SetMark(uint32) error { return nil }
func (r *recordBind) BatchSize() int       { return 128 }
func (r *recordBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	return memEndpoint{netip.MustParseAddrPort(s)}, nil
}
func (r *recordBind) Send(bufs [][]byte, _ conn.Endpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range bufs {
		r.sent = append(r.sent, append([]byte(nil), b...))
	}
	return nil
}
func (r *recordBind) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

// waitLong polls cond until it holds or a generous bound passes (a hang, not a speed check).
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for limit := time.Now().Add(60 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(limit) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// checkSeqOrder reports the first datagram whose sequence number is not its SA's previous
// one plus one (ESP over UDP encapsulation: SPI, then sequence number).
func checkSeqOrder(dgrams [][]byte) error {
	last := map[uint32]uint32{}
	for i, d := range dgrams {
		spi, seq := binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
		if seq != last[spi]+1 {
			return fmt.Errorf("datagram %d: SPI %#x sequence number %d after %d", i, spi, seq, last[spi])
		}
		last[spi] = seq
	}
	return nil
}

func TestFlightsKeepOrder(t *testing.T) {
	const nSA, workers = 4, 4
	total := 20000
	if testing.Short() || raceEnabled {
		total = 4000
	}
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes128", "sha256"}} {
		t.Run(suiteName(s), func(t *testing.T) {
			dev := &countingDevice{nSA: nSA, total: total, closed: make(chan struct{})}
			wire := &recordBind{closed: make(chan struct{})}
			sealer, err := New(Options{Device: dev, NATT: wire, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			odev := &countingDevice{closed: make(chan struct{})}
			owire := &recordBind{closed: make(chan struct{})}
			opener, err := New(Options{Device: odev, NATT: owire, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			installStagePairs(t, sealer, opener, s, nSA)
			sealer.Start()
			waitLong(t, "the sealed packets", func() bool { return wire.count() >= total })
			sealer.Close()
			dev.Close()
			sealer.Wait()
			if sealer.Stat.ParallelBatches.Load() == 0 {
				t.Fatal("no batch was split across workers: the test did not exercise the pool")
			}
			if err := checkSeqOrder(wire.sent); err != nil {
				t.Fatalf("outbound: %v", err)
			}
			if len(wire.sent) != total {
				t.Fatalf("sent %d datagrams, want %d", len(wire.sent), total)
			}

			// Inbound: the datagrams in chunks of varying size; every fifth chunk arrives twice
			// in a row, so the copy's replay pre-check runs before the original's window update.
			dups := 0
			for i := 0; i < total; {
				n := min(1+i*5%100, total-i)
				c := wire.sent[i : i+n]
				owire.chunks = append(owire.chunks, c)
				if len(owire.chunks)%5 == 0 {
					owire.chunks = append(owire.chunks, c)
					dups += n
				}
				i += n
			}
			opener.Start()
			replays := func() uint64 {
				var r uint64
				for _, sa := range opener.SAD.All() {
					r += sa.Stats.Errors[ClassReplay].Load()
				}
				return r
			}
			refused := func() int {
				var r uint64
				for _, sa := range opener.SAD.All() {
					r += sa.Stats.ErrorTotal()
				}
				return int(r)
			}
			waitLong(t, "the opened packets", func() bool { return odev.count()+refused() >= total+dups })
			opener.Close()
			odev.Close()
			opener.Wait()
			if len(odev.written) != total {
				t.Fatalf("delivered %d packets, want %d", len(odev.written), total)
			}
			// The outbound pipeline groups each batch by SA, so the order to check is per SA.
			last := map[int]int{}
			for i, p := range odev.written {
				k := int(binary.BigEndian.Uint32(p[48:]))
				if prev, ok := last[k%nSA]; ok && k <= prev {
					t.Fatalf("inbound: position %d holds packet %d after its SA's packet %d", i, k, prev)
				}
				last[k%nSA] = k
			}
			if r := replays(); r != uint64(dups) {
				t.Fatalf("%d replays counted, want %d", r, dups)
			}
			for _, sa := range opener.SAD.All() {
				for c := range numClasses {
					if c != ClassReplay && sa.Stats.Errors[c].Load() != 0 {
						t.Fatalf("SA %#x: %d %s errors", sa.cfg.SPI, sa.Stats.Errors[c].Load(), c)
					}
				}
			}
		})
	}
}

// TestCheckSeqOrder is the negative control of the order check above: a swap or a
// duplicate is caught.
func TestCheckSeqOrder(t *testing.T) {
	d := func(spi, seq uint32) []byte {
		b := make([]byte, 8)
		binary.BigEndian.PutUint32(b, spi)
		binary.BigEndian.PutUint32(b[4:], seq)
		return b
	}
	if err := checkSeqOrder([][]byte{d(1, 1), d(2, 1), d(1, 2), d(2, 2)}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][][]byte{
		{d(1, 1), d(1, 3), d(1, 2)},
		{d(1, 1), d(1, 1)},
		{d(1, 2)},
	} {
		if checkSeqOrder(bad) == nil {
			t.Fatalf("%x passed", bad)
		}
	}
}

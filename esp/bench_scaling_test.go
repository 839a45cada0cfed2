package esp

// Scaling across cores: the outbound (seal) and inbound (open) pipelines of one data plane,
// fed as fast as a device or socket could (each read returns a 46-packet batch, one TSO
// super-packet's worth), with as many crypto workers as GOMAXPROCS:
//
//	go test ./esp -run ^$ -bench Scaling -cpu 1,2,4
//
// -cpu 1 runs the crypto inline (one worker); more CPUs run it on that many workers, with
// batches of one SA split into jobs across them (sas=1) or batches of several SAs
// (sas=4). The serial stages (read, classify, sequence numbers / replay, send or write) stay
// on one goroutine each; README.md's benchmark section models where that stops scaling.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
)

// feedDevice returns a batch of copies of pkts on every Read, batches times, then blocks
// until closed; writes are counted.
type feedDevice struct {
	pkts    [][]byte
	batches atomic.Int64
	target  counter
	closed  chan struct{}
	once    sync.Once
}

// counter closes reached once add has counted want.
type counter struct {
	n, want atomic.Int64
	reached chan struct{}
	once    sync.Once
}

func (c *counter) add(k int) {
	if c.n.Add(int64(k)) >= c.want.Load() && c.reached != nil {
		c.once.Do(func() { close(c.reached) })
	}
}

func (f *feedDevice) BatchSize() int { return 128 }
func (f *feedDevice) Read(bufs [][]byte, sizes []int, off int) (int, error) {
	if f.batches.Add(-1) < 0 {
		<-f.closed
		return 0, os.ErrClosed
	}
	for i, p := range f.pkts {
		sizes[i] = copy(bufs[i][off:], p)
	}
	return len(f.pkts), nil
}
func (f *feedDevice) Write(bufs [][]byte, _ int) (int, error) {
	f.target.add(len(bufs))
	return len(bufs), nil
}
func (f *feedDevice) Close() { f.once.Do(func() { close(f.closed) }) }

// feedBind receives copies of dgrams on every call, batches times; sends are counted.
type feedBind struct {
	dgrams  [][]byte
	batches atomic.Int64
	target  counter
	closed  chan struct{}
	once    sync.Once
}

func (f *feedBind) Open(uint16) ([]conn.ReceiveFunc, uint16, error) {
	return []conn.ReceiveFunc{f.receive}, 4500, nil
}
func (f *feedBind) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	if f.batches.Add(-1) < 0 || len(f.dgrams) == 0 {
		<-f.closed
		return 0, net.ErrClosed
	}
	for i, d := range f.dgrams {
		sizes[i] = copy(bufs[i], d)
		eps[i] = memEndpoint{siteAddrB}
	}
	return len(f.dgrams), nil
}
func (f *feedBind) Close() error         { f.once.Do(func() { close(f.closed) }); return nil }
func (f *feedBind) SetMark(uint32) error { return nil }
func (f *feedBind) BatchSize() int       { return 128 }
func (f *feedBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	return memEndpoint{netip.MustParseAddrPort(s)}, nil
}
func (f *feedBind) Send(bufs [][]byte, _ conn.Endpoint) error {
	f.target.add(len(bufs))
	return nil
}

func BenchmarkScaling(b *testing.B) {
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes128", "sha256"}} {
		for _, nSA := range []int{1, 4} {
			for _, dir := range []string{"seal", "open"} {
				b.Run(fmt.Sprintf("%s/sas=%d/%s", suiteName(s), nSA, dir), func(b *testing.B) {
					benchScaling(b, s, nSA, dir == "open")
				})
			}
		}
	}
}

func benchScaling(b *testing.B, s suite, nSA int, open bool) {
	const batch = stageBatch
	workers := runtime.GOMAXPROCS(0)
	dev := &feedDevice{closed: make(chan struct{})}
	bind := &feedBind{closed: make(chan struct{})}
	dp, err := New(Options{Device: dev, NATT: bind, Workers: workers})
	if err != nil {
		b.Fatal(err)
	}
	// Sealer and opener share keys: the opener's SAs (Replay 0, so the same sealed packets
	// can be opened again and again) are installed in dp when open, the sealer's otherwise.
	seal, err := New(Options{Device: &nullDevice{}, NATT: &captureBind{}, Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	src := netip.MustParseAddr("2001:db8:a::10")
	var pkts [][]byte
	for k := range batch {
		pkts = append(pkts, udpPacket(src, stageRemote(k%nSA), 1400, byte(k)))
	}
	if open {
		installScalingPairs(b, seal, dp, s, nSA)
		st := &stageSites{a: seal, bind: &captureBind{}}
		st.out = newOutState(128, Headroom+seal.outRoom+Tailroom)
		st.in = newInState(128, Headroom, Headroom+65535+Tailroom)
		st.bind.st = st.in
		seal.opts.NATT = st.bind
		for k, p := range pkts {
			copy(st.out.b.Bufs[k][Headroom:], p)
			st.out.sizes[k] = len(p)
		}
		seal.processOutbound(&st.reader, st.out, batch)
		for k := range st.bind.n {
			bind.dgrams = append(bind.dgrams, append([]byte(nil), st.in.views[k][:st.in.sizes[k]]...))
		}
		if len(bind.dgrams) != batch {
			b.Fatalf("sealed %d of %d", len(bind.dgrams), batch)
		}
	} else {
		installScalingPairs(b, dp, seal, s, nSA)
		dev.pkts = pkts
	}
	dev.batches.Store(int64(b.N))
	bind.batches.Store(int64(b.N))
	if open {
		dev.batches.Store(0)
	} else {
		bind.batches.Store(0)
	}
	want := int64(b.N) * batch
	target := &bind.target
	if open {
		target = &dev.target
	}
	target.want.Store(want)
	target.reached = make(chan struct{})
	b.SetBytes(1400 * batch)
	b.ResetTimer()
	dp.Start()
	<-target.reached
	b.StopTimer()
	if e := dp.Stat.NoPolicy.Load() + dp.Stat.UnknownSPI.Load() + dp.Stat.Malformed.Load(); e > 0 {
		b.Fatalf("%d packets refused", e)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/packet")
	b.ReportMetric(float64(workers), "workers")
	dp.Close()
	dev.Close()
	dp.Wait()
	seal.Close()
	seal.Wait()
	for _, sa := range dp.SAD.All() {
		if e := sa.Stats.ErrorTotal(); e != 0 {
			b.Fatalf("%d packets failed to open", e)
		}
	}
}

// installScalingPairs installs n outbound SAs with policies in out and their inbound twins
// (replay window off) in in.
func installScalingPairs(b *testing.B, out, in *Dataplane, s suite, n int) {
	installStagePairs(b, out, in, s, n)
	for _, sa := range in.SAD.All() {
		sa.replayMu.Lock()
		sa.replay = NewWindow(0)
		sa.replayMu.Unlock()
	}
}

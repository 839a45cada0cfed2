package esp

// Stage benchmarks: the data plane's own per-packet work, without sockets, TUN or channels.
// Each iteration takes one batch of stageBatch inner packets (a TSO super-packet's worth)
// through the outbound pipeline of site A (classify, SPD, ESP, "send") and, for "roundtrip",
// hands the datagrams to site B's inbound pipeline (SAD, replay, ESP, policy check, "device
// write"). Deterministic enough for callgrind instruction counts:
//
//	go test ./esp -run ^$ -bench Stage -benchmem
//
// BenchmarkStageSAs installs 1, 100 or 10,000 child SA pairs (one policy each) and spreads
// every batch over 100 of them, so its ns/packet must stay flat as SAs grow; it also reports
// the heap bytes each installed SA pair (two SAs, one policy, one binding) costs.

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"golang.zx2c4.com/wireguard/conn"

	ocrypto "oakley/crypto"
)

const stageBatch = 46 // segments of one 64 KB TSO super-packet at MTU 1420

// nullDevice is a Device that reads nothing and accepts every write.
type nullDevice struct{ written int }

func (n *nullDevice) Read([][]byte, []int, int) (int, error) { select {} }
func (n *nullDevice) Write(bufs [][]byte, _ int) (int, error) {
	n.written += len(bufs)
	return len(bufs), nil
}
func (n *nullDevice) BatchSize() int { return 128 }

// captureBind is a conn.Bind whose Send copies datagrams into an inbound state.
type captureBind struct {
	st   *inState
	head int
	n    int
}

func (c *captureBind) Open(uint16) ([]conn.ReceiveFunc, uint16, error) { return nil, 4500, nil }
func (c *captureBind) Close() error                                    { return nil }
func (c *captureBind) SetMark(uint32) error                            { return nil }
func (c *captureBind) BatchSize() int                                  { return 128 }
func (c *captureBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	return memEndpoint{ap}, err
}
func (c *captureBind) Send(bufs [][]byte, _ conn.Endpoint) error {
	if c.st == nil {
		return nil
	}
	for _, p := range bufs {
		if c.n < len(c.st.views) {
			c.st.sizes[c.n] = copy(c.st.views[c.n], p)
			c.n++
		}
	}
	return nil
}

type stageSites struct {
	a, z   *Dataplane
	bind   *captureBind
	out    *outState
	reader outReader
	in     *inState
	flows  [][]byte // inner packets, one per flow the traffic is spread over
	spread int
}

// newStageSites installs nSA child SA pairs on both sites: policy i protects
// 2001:db8:a::/48 ↔ 2001:db8:b::i/128 (IPv6 inner packets, so 10,000 distinct selectors fit
// in documentation space). Traffic goes to spread SAs evenly spaced through the SPD.
func newStageSites(b *testing.B, s suite, size, nSA, spread int) *stageSites {
	st := &stageSites{bind: &captureBind{}, spread: min(spread, nSA)}
	var err error
	if st.a, err = New(Options{Device: &nullDevice{}, NATT: st.bind, Workers: 1}); err != nil {
		b.Fatal(err)
	}
	if st.z, err = New(Options{Device: &nullDevice{}, NATT: &captureBind{}, Workers: 1}); err != nil {
		b.Fatal(err)
	}
	installStagePairs(b, st.a, st.z, s, nSA)
	st.out = newOutState(128, Headroom+st.a.outRoom+Tailroom)
	st.in = newInState(128, Headroom, Headroom+st.z.inRoom+Tailroom)
	st.bind.st = st.in
	src := netip.MustParseAddr("2001:db8:a::10")
	step := nSA / st.spread
	for k := range st.spread {
		st.flows = append(st.flows, udpPacket(src, stageRemote(k*step), size, byte(k)))
	}
	b.Cleanup(func() {
		for _, d := range []*Dataplane{st.a, st.z} {
			d.Close()
			d.Wait()
		}
	})
	return st
}

func stageRemote(i int) netip.Addr {
	a := netip.MustParseAddr("2001:db8:b::").As16()
	a[13], a[14], a[15] = byte(i>>16), byte(i>>8), byte(i)
	return netip.AddrFrom16(a)
}

// installStagePairs installs n SA pairs and policies, a sending and z receiving.
func installStagePairs(b testing.TB, a, z *Dataplane, s suite, n int) {
	e := ocrypto.Lookup(s.enc)
	var ia *ocrypto.Algorithm
	if s.integ != "" {
		ia = ocrypto.Lookup(s.integ)
	}
	local := []Selector{SelectorFor(netip.MustParsePrefix("2001:db8:a::/48"))}
	peer := netip.MustParseAddrPort("198.18.0.2:4500")
	for i := range n {
		remote := []Selector{SelectorFor(netip.PrefixFrom(stageRemote(i), 128))}
		spi := uint32(0x10000 + i)
		cfg := func(dir Direction, l, r []Selector) Config {
			c := Config{SPI: spi, Dir: dir, Proto: ESP, Mode: Tunnel, Enc: e, Integ: ia,
				EncKey: make([]byte, e.KeyLen()), Replay: 1024, Local: l, Remote: r,
				LocalAddr: outerA4, RemoteAddr: outerB4}
			if ia != nil {
				c.IntegKey = make([]byte, ia.KeyLen())
			}
			return c
		}
		out, err := a.Install(cfg(Outbound, local, remote))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := z.Install(cfg(Inbound, remote, local)); err != nil {
			b.Fatal(err)
		}
		p := &Policy{Name: "p", Local: local, Remote: remote, Action: Protect}
		a.SPD.Add(p)
		if err := a.Bind(p, out, peer, netip.Addr{}, EncapUDP, 1500); err != nil {
			b.Fatal(err)
		}
	}
}

// iteration runs one batch through site A's outbound pipeline and, if roundtrip, through
// site B's inbound pipeline. Batch i carries flow i (round robin), or with mixed every
// packet carries the next flow.
func (st *stageSites) iteration(i int, roundtrip, mixed bool) {
	o := st.out
	for k := range stageBatch {
		f := i
		if mixed {
			f = i*stageBatch + k
		}
		p := st.flows[f%len(st.flows)]
		copy(o.b.Bufs[k][Headroom:], p)
		o.sizes[k] = len(p)
	}
	if !roundtrip {
		st.bind.st = nil
	}
	st.bind.n = 0
	st.a.processOutbound(&st.reader, o, stageBatch)
	if roundtrip {
		st.z.processInbound(st.in, st.bind.n, srcNATT, 4500, Headroom)
	}
}

func (st *stageSites) check(b *testing.B, roundtrip bool) {
	b.Helper()
	if st.a.Stat.NetTx.Load() == 0 || st.a.Stat.NoPolicy.Load()+st.a.Stat.NoSA.Load()+st.a.Stat.Malformed.Load() != 0 {
		b.Fatalf("outbound: %d sent, %d no policy, %d no SA", st.a.Stat.NetTx.Load(), st.a.Stat.NoPolicy.Load(), st.a.Stat.NoSA.Load())
	}
	if roundtrip {
		want := st.a.Stat.NetTx.Load()
		if got := st.z.Stat.DevTx.Load(); got != want {
			b.Fatalf("inbound delivered %d of %d (unknown SPI %d)", got, want, st.z.Stat.UnknownSPI.Load())
		}
	}
}

func BenchmarkStage(b *testing.B) {
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes128", "sha256"}} {
		for _, dir := range []string{"out", "roundtrip", "roundtrip-watched"} {
			b.Run(fmt.Sprintf("%s/%s", suiteName(s), dir), func(b *testing.B) {
				st := newStageSites(b, s, 1400, 1, 1)
				rt := dir != "out"
				if dir == "roundtrip-watched" {
					st.watchSources()
				}
				b.SetBytes(1400 * stageBatch)
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					st.iteration(i, rt, false)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*stageBatch), "ns/packet")
				st.check(b, rt)
			})
		}
	}
}

// watchSources makes every datagram reach z from one NAT-T source that its inbound SAs
// watch (SA.WatchSource, as the key manager sets it for ESP-in-UDP), so the inbound stage
// pays for the source check on every group.
func (st *stageSites) watchSources() {
	from := netip.MustParseAddrPort("198.18.0.1:4500")
	for i := range st.in.eps {
		st.in.eps[i] = memEndpoint{from}
	}
	for _, sa := range st.z.SAD.All() {
		sa.WatchSource(from)
	}
}

// BenchmarkStageSAs: per-packet cost with 1, 100 and 10,000 installed SA pairs, traffic over
// 100 of them, and the heap cost of an installed SA pair. "flow": each batch is one flow (as a
// TUN read of one TSO super-packet is), batches take the flows in turn; "mixed": every packet
// of a batch belongs to the next flow (small packets of many flows read together).
func BenchmarkStageSAs(b *testing.B) {
	s := suite{"aes128gcm16", ""}
	mem := map[int]float64{}
	for _, mix := range []string{"flow", "mixed"} {
		for _, n := range []int{1, 100, 10000} {
			b.Run(fmt.Sprintf("%s/sas=%d", mix, n), func(b *testing.B) {
				if _, ok := mem[n]; !ok {
					mem[n] = saPairBytes(b, s, n)
				}
				st := newStageSites(b, s, 1400, n, 100)
				b.SetBytes(1400 * stageBatch)
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					st.iteration(i, true, mix == "mixed")
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*stageBatch), "ns/packet")
				b.ReportMetric(mem[n], "B/SA-pair")
				st.check(b, true)
			})
		}
	}
}

// saPairBytes measures the live heap n installed SA pairs (and their policies and bindings)
// take, per pair, in a data plane pair built for the purpose.
func saPairBytes(b *testing.B, s suite, n int) float64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	a, err := New(Options{Device: &nullDevice{}, NATT: &captureBind{}, Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	z, err := New(Options{Device: &nullDevice{}, NATT: &captureBind{}, Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	installStagePairs(b, a, z, s, n)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(a)
	runtime.KeepAlive(z)
	for _, d := range []*Dataplane{a, z} {
		d.Close()
		d.Wait()
	}
	return float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n)
}

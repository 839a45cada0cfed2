package ike

// Two Engines with their Run loops, joined by goroutines that carry each one's SendIKE to
// the other's HandleMessage: the public API end to end, and no goroutine left behind.

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/core/coretest"

	"go.uber.org/zap"
)

type runPair struct {
	a, b       *Engine
	dpA, dpB   *coretest.FakeDP
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	connA      *Connection
	connB      *Connection
	stopShuttl chan struct{}
}

func startRunPair(t *testing.T, tweak func(a, b *Connection)) *runPair {
	t.Helper()
	ca, cb := coretest.PairConfig(t, []string{"aes128-sha256-ecp256"}, []string{"aes128gcm16"})
	ca.StartAction = "none"
	if tweak != nil {
		tweak(ca, cb)
	}
	p := &runPair{dpA: coretest.NewFakeDP(), dpB: coretest.NewFakeDP(), connA: ca, connB: cb, stopShuttl: make(chan struct{})}
	p.dpA.Sent, p.dpB.Sent = make(chan coretest.SentMsg, 64), make(chan coretest.SentMsg, 64)
	log := zap.NewNop()
	mk := func(c *Connection, dp *coretest.FakeDP, me netip.Addr) *Engine {
		cfg := Config{}
		cfg.Connections, cfg.Dataplane, cfg.Log = []*Connection{c}, dp, log
		cfg.LocalAddrFor = func(netip.Addr) netip.Addr { return me }
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	p.a, p.b = mk(ca, p.dpA, coretest.IPA), mk(cb, p.dpB, coretest.IPB)
	shuttle := func(from *coretest.FakeDP, src netip.Addr, to *Engine) {
		defer p.wg.Done()
		for {
			select {
			case m := <-from.Sent:
				port := uint16(500)
				if m.NATT {
					port = 4500
				}
				to.HandleMessage(m.Msg, netip.AddrPortFrom(src, port), m.To)
			case <-p.stopShuttl:
				return
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(4)
	go shuttle(p.dpA, coretest.IPA, p.b)
	go shuttle(p.dpB, coretest.IPB, p.a)
	go func() { defer p.wg.Done(); p.a.Run(ctx) }()
	go func() { defer p.wg.Done(); p.b.Run(ctx) }()
	return p
}

// policy returns the SPD entry of an engine's unit.
func (p *runPair) policy(e *Engine, conn string) *esp.Policy {
	for _, pol := range e.Policies() {
		if pol.Name == conn+"/net" {
			return pol
		}
	}
	return nil
}

// stop cancels both Run loops (they send their Deletes), then ends the shuttles.
func (p *runPair) stop() {
	p.cancel()
	<-p.a.done
	<-p.b.done
	close(p.stopShuttl)
	p.wg.Wait()
}

func TestEngineRunEndToEnd(t *testing.T) {
	before := runtime.NumGoroutine()
	p := startRunPair(t, nil)
	if err := p.a.Initiate("ab", ""); err != nil {
		t.Fatalf("Initiate: %v", err)
	}
	st := p.a.Status()
	if len(st) != 1 || len(st[0].IKESAs) != 1 || len(st[0].Children) != 1 {
		t.Fatalf("status %+v", st)
	}
	c := st[0].Children[0]
	if c.Encryption != "aes128gcm16" || c.State != "installed" || c.SPIIn == "" || c.InSA == nil {
		t.Fatalf("child status %+v", c)
	}
	js, err := json.Marshal(p.b.Status())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"EncKey", "IntegKey", "skeyid", "psk"} {
		if strings.Contains(strings.ToLower(string(js)), strings.ToLower(k)) {
			t.Fatalf("status JSON mentions %s: %s", k, js)
		}
	}
	// Initiating again is a no-op; errors for unknown names.
	if err := p.a.Initiate("ab", "net"); err != nil {
		t.Fatal(err)
	}
	if err := p.a.Initiate("nope", ""); !errors.Is(err, ErrUnknownConnection) {
		t.Fatalf("unknown connection: %v", err)
	}
	if err := p.a.Initiate("ab", "nope"); !errors.Is(err, ErrUnknownChild) {
		t.Fatalf("unknown child: %v", err)
	}
	if err := p.b.Initiate("ba", ""); !errors.Is(err, ErrConfig) {
		t.Fatalf("respond-only connection: %v", err)
	}
	// A child rekey through the API.
	oldSPI := p.a.Status()[0].Children[0].SPIIn
	if err := p.a.Rekey("ab", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		b := p.policy(p.a, "ab").Binding()
		ch := p.a.Status()[0].Children // one snapshot: the rekey changes the list meanwhile
		return b != nil && b.SA != nil && len(ch) > 0 && ch[len(ch)-1].SPIIn != oldSPI
	})
	// Re-authentication through the API.
	oldCookie := p.a.Status()[0].IKESAs[0].InitiatorCookie
	if err := p.a.Rekey("ab", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, s := range p.a.Status()[0].IKESAs {
			if s.InitiatorCookie != oldCookie && s.State == "established" {
				return true
			}
		}
		return false
	})
	// Terminate: Deletes, nothing left on either side.
	if err := p.a.Terminate("ab"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		s := p.b.Status()[0]
		return len(s.IKESAs) == 0 && len(s.Children) == 1 && s.Children[0].State == "down"
	})
	if got := p.a.Counters()[core.CtrDeletesOut]; got < 2 {
		t.Fatalf("deletes_out = %d", got)
	}
	if err := p.a.Initiate("ab", ""); err != nil {
		t.Fatal(err)
	}
	p.stop()
	// After Run: requests fail cleanly, counters still readable.
	if err := p.a.Initiate("ab", ""); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Initiate after Run: %v", err)
	}
	if p.a.Status() != nil {
		t.Fatal("Status after Run")
	}
	if p.a.Counters()[core.CtrIKEEstablished] == 0 {
		t.Fatal("counters lost")
	}
	if len(p.dpA.InboundSPIs()) != 0 || len(p.dpB.InboundSPIs()) != 0 {
		t.Fatal("SAs left after shutdown")
	}
	checkNoLeak(t, before)
}

func TestEngineAcquireTrap(t *testing.T) {
	before := runtime.NumGoroutine()
	p := startRunPair(t, func(a, b *Connection) { a.Children[0].StartAction = "trap" })
	p.dpA.Acquire(p.policy(p.a, "ab"))
	waitFor(t, func() bool {
		return p.policy(p.a, "ab").Binding() != nil && p.policy(p.b, "ba").Binding() != nil
	})
	p.stop()
	checkNoLeak(t, before)
}

func TestEngineStartAction(t *testing.T) {
	before := runtime.NumGoroutine()
	p := startRunPair(t, func(a, b *Connection) { a.StartAction = "start" })
	pa, pb := p.policy(p.a, "ab"), p.policy(p.b, "ba")
	waitFor(t, func() bool { return pa.Binding() != nil && pb.Binding() != nil })
	p.stop()
	// The shutdown Deletes reached the peer before its own shutdown, or it removed its SAs
	// itself: nothing is installed anywhere.
	if pa.Binding() != nil || pb.Binding() != nil {
		t.Fatal("outbound SA left after shutdown")
	}
	checkNoLeak(t, before)
}

// TestInboxNeverBlocks floods the inbox of an engine whose Run loop is not running with
// 100,000 datagrams: HandleMessage never blocks, the inbox holds exactly inboxSize of them,
// every other one is counted in inbox_full, and the memory they could take is bounded.
func TestInboxNeverBlocks(t *testing.T) {
	e := stoppedEngine(t)
	const flood = 100_000
	msg := make([]byte, 200)
	heap0 := liveHeap()
	done := make(chan struct{})
	go func() {
		for i := 0; i < flood; i++ {
			e.HandleMessage(msg, netip.AddrPortFrom(coretest.IPB, 500), netip.AddrPortFrom(coretest.IPA, 500))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("HandleMessage blocked without a running engine")
	}
	heap1 := liveHeap()
	full := e.Counters()[core.CtrInboxFull]
	t.Logf("%d datagrams into a stopped engine: %d queued (inbox %d), inbox_full=%d; live heap %d -> %d bytes (%+d)",
		flood, len(e.inbox), inboxSize, full, heap0, heap1, int64(heap1)-int64(heap0))
	if len(e.inbox) != inboxSize || full != flood-inboxSize {
		t.Fatalf("inbox holds %d, inbox_full %d; want %d and %d", len(e.inbox), full, inboxSize, flood-inboxSize)
	}
	// inboxSize copies of a 200-byte message and nothing per dropped one.
	if growth := int64(heap1) - int64(heap0); !raceEnabled && growth > 2*inboxSize*(200+64)+(256<<10) {
		t.Fatalf("the live heap grew by %d bytes for an inbox of %d", growth, inboxSize)
	}
}

// liveHeap is the heap once garbage is collected.
func liveHeap() uint64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 10 s")
}

func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
}

// raceEnabled is set under -race (race_test.go).
var raceEnabled bool

// TestInboxBoundedByBytes: large datagrams fill the inbox by bytes before they fill it by
// count, and once Run has taken them the byte budget is whole again.
func TestInboxBoundedByBytes(t *testing.T) {
	e := stoppedEngine(t)
	const size, flood = 8192, 2000
	msg := make([]byte, size)
	from, to := netip.AddrPortFrom(coretest.IPB, 500), netip.AddrPortFrom(coretest.IPA, 500)
	for range flood {
		e.HandleMessage(msg, from, to)
	}
	want := inboxBytes / size
	full := e.Counters()[core.CtrInboxFull]
	if len(e.inbox) != want || full != uint64(flood-want) || e.queued.Load() != int64(want*size) {
		t.Fatalf("inbox holds %d datagrams (%d bytes), inbox_full %d; want %d, %d bytes, %d",
			len(e.inbox), e.queued.Load(), full, want, want*size, flood-want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	if !waitUntil(10*time.Second, func() bool { return e.queued.Load() == 0 && len(e.inbox) == 0 }) {
		t.Fatalf("after Run took the inbox: %d datagrams, %d bytes still queued", len(e.inbox), e.queued.Load())
	}
	e.HandleMessage(msg, from, to) // room again
	if got := e.Counters()[core.CtrInboxFull]; got != full {
		t.Fatalf("inbox_full went from %d to %d with an empty inbox", full, got)
	}
	cancel()
	<-done
}

// waitUntil polls cond every millisecond until it holds or d has passed.
func waitUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// stoppedEngine is an engine with one connection and a fake data plane whose Run loop is not
// running.
func stoppedEngine(t *testing.T) *Engine {
	ca, _ := coretest.PairConfig(t, []string{"aes128-sha256-ecp256"}, []string{"aes128gcm16"})
	cfg := Config{}
	cfg.Connections, cfg.Dataplane = []*Connection{ca}, coretest.NewFakeDP()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

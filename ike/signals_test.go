package ike

// Signals that cannot be lost (issue 8 item 3): the data plane's soft and hard limits reach
// the engine on their own path (esp/events.go), never through the inbox network input can
// fill. Two engines with their Run loops, joined by shuttles; a goroutine floods one
// engine's HandleMessage with garbage as fast as it can while its data plane reports a
// soft byte limit, then a hard one, of the child's outbound SA.

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/core/coretest"
)

// testClock is a clock the test moves: timers fire only when it says so.
type testClock struct{ off atomic.Int64 }

var clockBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *testClock) now() time.Time          { return clockBase.Add(time.Duration(c.off.Load())) }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func TestSignalsSurviveInboxFlood(t *testing.T) {
	ca, cb := coretest.PairConfig(t, []string{"aes128-sha256-ecp256"}, []string{"aes128gcm16"})
	ca.StartAction = "none"
	clock := &testClock{}
	dpA, dpB := coretest.NewFakeDP(), coretest.NewFakeDP()
	dpA.Sent, dpB.Sent = make(chan coretest.SentMsg, 64), make(chan coretest.SentMsg, 64)
	mk := func(c *Connection, dp *coretest.FakeDP, me netip.Addr) *Engine {
		cfg := Config{Now: clock.now}
		cfg.Connections, cfg.Dataplane, cfg.Log = []*Connection{c}, dp, zap.NewNop()
		cfg.LocalAddrFor = func(netip.Addr) netip.Addr { return me }
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := mk(ca, dpA, coretest.IPA), mk(cb, dpB, coretest.IPB)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	shuttle := func(from *coretest.FakeDP, src netip.Addr, to *Engine) {
		defer wg.Done()
		for {
			select {
			case m := <-from.Sent:
				to.HandleMessage(m.Msg, netip.AddrPortFrom(src, 500), m.To)
			case <-stop:
				return
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	wg.Add(4)
	go shuttle(dpA, coretest.IPA, b)
	go shuttle(dpB, coretest.IPB, a)
	go func() { defer wg.Done(); a.Run(ctx) }()
	go func() { defer wg.Done(); b.Run(ctx) }()
	defer func() {
		cancel()
		<-a.done
		<-b.done
		close(stop)
		wg.Wait()
	}()
	if err := a.Initiate("ab", ""); err != nil {
		t.Fatal(err)
	}
	var pol *esp.Policy
	for _, p := range a.Policies() {
		if p.Name == "ab/net" {
			pol = p
		}
	}
	old := pol.Binding().SA
	if len(dpA.InboundSPIs()) != 1 {
		t.Fatalf("inbound SAs %v after the first Quick Mode", dpA.InboundSPIs())
	}

	// The flood: garbage as fast as one goroutine can hand it over (ISAKMP headers with
	// unknown cookies, and shorter junk), from ever-changing sources.
	var floodWG sync.WaitGroup
	floodStop := make(chan struct{})
	var sent atomic.Uint64
	floodWG.Add(1)
	go func() {
		defer floodWG.Done()
		junk := make([]byte, 60)
		junk[17], junk[18] = 0x10, 5
		for i := uint64(1); ; i++ {
			select {
			case <-floodStop:
				return
			default:
			}
			binary.BigEndian.PutUint64(junk, i)
			binary.BigEndian.PutUint64(junk[8:], i*7)
			n := 60
			if i%3 == 0 {
				n = 20
			}
			from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), uint16(i))
			a.HandleMessage(junk[:n], from, netip.AddrPortFrom(coretest.IPA, 500))
			sent.Add(1)
		}
	}()
	defer func() { close(floodStop); floodWG.Wait() }()
	// signalWhenFull raises a data-plane event at a moment the inbox is full.
	signalWhenFull := func(e esp.SAEvent) (dropped uint64) {
		for len(a.inbox) < inboxSize || a.Counters()[core.CtrInboxFull] < 10_000 {
			time.Sleep(100 * time.Microsecond)
		}
		dropped = a.Counters()[core.CtrInboxFull]
		dpA.Signal(e)
		return dropped
	}

	// The soft limit: A rekeys. Its Quick Mode answers cross the flooded inbox, so the test
	// clock moves on (retransmissions) until A has installed the new pair; then it stops,
	// so A's new outbound SA waits to be switched to (outboundSwitchDelay has not passed).
	drops0 := signalWhenFull(esp.SAEvent{Kind: esp.EventSoft, SA: old})
	deadline := time.Now().Add(60 * time.Second)
	advanced := time.Duration(0)
	for len(dpA.InboundSPIs()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no rekey within 60 s under the flood: counters %v", a.Counters())
		}
		clock.advance(200 * time.Millisecond)
		advanced += 200 * time.Millisecond
		time.Sleep(10 * time.Millisecond)
	}
	ctr := a.Counters()
	t.Logf("soft limit raised with the inbox full (%d datagrams dropped before): rekeyed after %s of test time; soft_expires=%d child_rekeys=%d retransmits=%d; %d garbage datagrams so far, inbox_full=%d",
		drops0, advanced, ctr[core.CtrSoftExpires], ctr[core.CtrChildRekeys], ctr[core.CtrRetransmits], sent.Load(), ctr[core.CtrInboxFull])
	if ctr[core.CtrSoftExpires] != 1 || ctr[core.CtrChildRekeys] != 1 {
		t.Fatalf("soft_expires %d, child_rekeys %d; want 1 and 1", ctr[core.CtrSoftExpires], ctr[core.CtrChildRekeys])
	}
	if bd := pol.Binding(); bd == nil || bd.SA != old {
		t.Fatalf("A switched to the new pair before the hard limit (test clock moved %s)", advanced)
	}

	// The hard limit of the old outbound SA: traffic moves to the new pair at once.
	drops1 := signalWhenFull(esp.SAEvent{Kind: esp.EventHard, SA: old})
	deadline = time.Now().Add(10 * time.Second)
	for {
		if bd := pol.Binding(); bd != nil && bd.SA != old {
			if dpB.InboundOf(bd.SA.SPI()) == nil {
				t.Fatalf("A now sends on SPI %08x, which B has not installed", bd.SA.SPI())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hard limit did not switch traffic within 10 s: counters %v", a.Counters())
		}
		time.Sleep(time.Millisecond)
	}
	waitFor(t, func() bool { return old.Expired() && a.Counters()[core.CtrHardExpires] == 1 })
	ctr = a.Counters()
	t.Logf("hard limit raised with the inbox full (%d dropped before): hard_expires=%d, new outbound SPI %08x (old %08x); %d garbage datagrams in all, inbox_full=%d",
		drops1, ctr[core.CtrHardExpires], pol.Binding().SA.SPI(), old.SPI(), sent.Load(), ctr[core.CtrInboxFull])
	retired := false
	for _, sa := range dpA.Retired() {
		retired = retired || sa == old
	}
	if !retired {
		t.Fatal("the old outbound SA was not retired after its hard limit")
	}
}

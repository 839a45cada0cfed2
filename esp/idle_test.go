package esp

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestIdlePipelineKeepsNoRetiredSA: after traffic both ways, every SA is retired and the
// policies removed; with no further packet, the garbage collector must be able to take the
// SAs (and with them their ciphers, replay windows and peers' endpoints). A flight waiting
// in the free list, the outbound grouping table and the policy cache (through the whole SPD
// state it was filled from) held the last batch's SAs until the next packet: the 1,000-peer
// load test's heap stayed 1.8 MiB above its start after every tunnel was gone. The removed
// policies must go too: the policy cache kept up to flowCacheSize of them per reader until
// the next packet, before it remembered a decision by the policy's place in the list.
func TestIdlePipelineKeepsNoRetiredSA(t *testing.T) {
	for _, workers := range []int{1, 2} {
		a, b := newSites(t, "aes128gcm16", "", 64, workers)
		// The reverse direction may share a flow key with a cached decision: send on two flows.
		for i := range 40 {
			p := udpPacket(innerSrc4, innerDst4, 60+i, byte(i))
			a.dev.In <- p
			if got := recvPacket(t, b.dev.Out); !bytes.Equal(got, p) {
				t.Fatal("a → b packet differs")
			}
			q := udpPacket(innerDst6, innerSrc6, 80+i, byte(i))
			b.dev.In <- q
			if got := recvPacket(t, a.dev.Out); !bytes.Equal(got, q) {
				t.Fatal("b → a packet differs")
			}
		}
		var gone atomic.Int32
		var left sync.Map
		objects := int32(0)
		track := func(name string) {
			objects++
			left.Store(name, true)
		}
		for si, s := range []*site{a, b} {
			for di, sa := range []*SA{s.in, s.out} {
				name := fmt.Sprintf("site %c %s SA", 'a'+si, []string{"in", "out"}[di])
				track(name)
				runtime.AddCleanup(sa, func(n string) { left.Delete(n); gone.Add(1) }, name)
			}
			// The policy too: the readers' policy caches must not keep a removed one.
			name := fmt.Sprintf("site %c policy", 'a'+si)
			track(name)
			runtime.AddCleanup(s.policy, func(n string) { left.Delete(n); gone.Add(1) }, name)
		}
		for _, s := range []*site{a, b} {
			s.dp.Unbind(s.policy)
			s.dp.RemovePolicy(s.policy)
			s.dp.Retire(s.in)
			s.dp.Retire(s.out)
			s.in, s.out, s.policy = nil, nil, nil
		}
		deadline := time.Now().Add(5 * time.Second)
		for gone.Load() < objects && time.Now().Before(deadline) {
			for _, s := range []*site{a, b} {
				s.dp.TakeEvents() // the key manager's part: pending events name SAs
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		if got := gone.Load(); got != objects {
			var names []string
			left.Range(func(k, _ any) bool { names = append(names, k.(string)); return true })
			t.Fatalf("workers=%d: %d of %d retired SAs and removed policies collected; the idle pipelines keep %v", workers, got, objects, names)
		}
		for _, s := range []*site{a, b} {
			if r, w := s.dp.LifecycleCounts(); r != 2 || w != 2 {
				t.Fatalf("workers=%d: retired %d, wiped %d", workers, r, w)
			}
		}
	}
}

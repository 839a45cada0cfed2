package crypto

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"weak"
)

// TestClosedCiphersCollected: a cipher (and an AH integrity) that sealed and opened, then
// was closed and dropped, is garbage at the first collection. With a sync.Pool inside it
// (before scratch.go) every one survived that collection: the runtime lists a used pool
// until the next one. The control keeps one cipher referenced and must find it alive.
func TestClosedCiphersCollected(t *testing.T) {
	var ciphers []weak.Pointer[Cipher]
	var integs []weak.Pointer[Integrity]
	for _, s := range espSuites() {
		c := newSuite(t, s)
		n := 2 * c.BlockSize()
		pt := bytes.Repeat([]byte{7}, n)
		ops := []Op{newOp([]byte{1, 2, 3, 4, 0, 0, 0, 9}, make([]byte, c.IVSize()), pt, c.Tailroom())}
		ops[0].Seq = 9
		c.SealBatch(ops)
		ops[0].Data = ops[0].Data[:n]
		c.OpenBatch(ops)
		if ops[0].Err != nil {
			t.Fatal(ops[0].Err)
		}
		c.Close()
		ciphers = append(ciphers, weak.Make(c))
	}
	for _, alg := range All(KindInteg) {
		m, err := NewIntegrity(alg, bytes.Repeat([]byte{3}, alg.KeyLen()))
		if err != nil {
			t.Fatal(err)
		}
		icv := make([]byte, m.ICVSize())
		m.Sum(icv, []byte("data"), nil)
		if !m.Verify(icv, []byte("data"), nil) {
			t.Fatal("integrity does not verify its own ICV")
		}
		m.Close()
		integs = append(integs, weak.Make(m))
	}
	control := newSuite(t, espSuites()[0])
	control.SealBatch([]Op{newOp(make([]byte, 8), make([]byte, control.IVSize()), make([]byte, 16), control.Tailroom())})
	control.Close()
	wc := weak.Make(control)
	runtime.GC()
	for i, w := range ciphers {
		if w.Value() != nil {
			t.Errorf("closed cipher %d is still reachable after a collection", i)
		}
	}
	for i, w := range integs {
		if w.Value() != nil {
			t.Errorf("closed integrity %d is still reachable after a collection", i)
		}
	}
	if wc.Value() == nil {
		t.Fatal("control: a referenced cipher was reported collected")
	}
	runtime.KeepAlive(control)
}

// TestScratchConcurrent: many goroutines taking and returning scratch values at once each
// get a value of their own (the race detector checks the rest); drop empties the slots.
func TestScratchConcurrent(t *testing.T) {
	var made int64
	var mu sync.Mutex
	s := scratch[int]{new: func() *int { mu.Lock(); made++; mu.Unlock(); return new(int) }}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				v := s.get()
				if *v != 0 {
					t.Errorf("goroutine %d got a value in use", g)
					return
				}
				*v = g + 1
				*v = 0
				s.put(v)
			}
		}()
	}
	wg.Wait()
	if made == 0 {
		t.Fatal("no value made")
	}
	s.drop()
	for i := range s.slots {
		if s.slots[i].Load() != nil {
			t.Fatal("drop left a value")
		}
	}
}

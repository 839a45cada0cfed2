package main

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

var (
	sideA = netip.MustParsePrefix("198.18.1.0/24")
	sideB = netip.MustParsePrefix("198.18.0.0/24")
	addrA = [4]byte{198, 18, 1, 1}
	addrB = [4]byte{198, 18, 0, 2}
)

// udp4 builds an IPv4/UDP packet from src:sp to dst:dp.
func udp4(src, dst [4]byte, sp, dp uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[9] = 0x45, 17
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[12:], src[:])
	copy(p[16:], dst[:])
	binary.BigEndian.PutUint16(p[20:], sp)
	binary.BigEndian.PutUint16(p[22:], dp)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

// espInUDP is an ESP-in-UDP datagram A → B with an SPI and sequence number.
func espInUDP(spi, seq uint32) []byte {
	pl := make([]byte, 40)
	binary.BigEndian.PutUint32(pl, spi)
	binary.BigEndian.PutUint32(pl[4:], seq)
	return udp4(addrA, addrB, 4500, 4500, pl)
}

func TestClassify(t *testing.T) {
	im := New(sideA, sideB, 1)
	raw := make([]byte, 48)
	raw[0], raw[9] = 0x45, 50
	copy(raw[12:], addrB[:])
	copy(raw[16:], addrA[:])
	for _, c := range []struct {
		name       string
		pkt        []byte
		dir, class string
	}{
		{"ike-500", udp4(addrA, addrB, 500, 500, make([]byte, 28)), DirAB, ClassIKE},
		{"ike-4500-marker", udp4(addrB, addrA, 4500, 4500, make([]byte, 40)), DirBA, ClassIKE},
		{"esp-in-udp", espInUDP(0x1234, 1), DirAB, ClassESP},
		{"raw-esp", raw, DirBA, ClassESP},
		{"keepalive", udp4(addrA, addrB, 4500, 4500, []byte{0xff}), DirAB, ClassOther},
		{"other-udp", udp4(addrA, addrB, 5000, 5001, make([]byte, 10)), DirAB, ClassOther},
		{"neither-side", udp4([4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}, 500, 500, make([]byte, 28)), DirOther, ClassIKE},
		{"garbage", []byte{0x45, 0}, DirOther, ClassOther},
	} {
		dir, class := im.classify(c.pkt)
		if dir != c.dir || class != c.class {
			t.Errorf("%s: classified %s/%s, want %s/%s", c.name, dir, class, c.dir, c.class)
		}
	}
	if spi, seq, ok := espSeq(espInUDP(0xabcd, 77)); !ok || spi != 0xabcd || seq != 77 {
		t.Errorf("espSeq = %x %d %v", spi, seq, ok)
	}
	if _, _, ok := espSeq(udp4(addrA, addrB, 4500, 4500, []byte{1, 2})); ok {
		t.Errorf("espSeq accepted a short datagram")
	}
}

// run feeds n ESP datagrams one millisecond apart and returns the delivered sequence numbers.
func run(t *testing.T, im *Impairer, n int) []uint32 {
	t.Helper()
	now := time.Unix(1000, 0)
	var got []uint32
	collect := func(out [][]byte) {
		for _, p := range out {
			_, seq, _ := espSeq(p)
			got = append(got, seq)
		}
	}
	for i := 1; i <= n; i++ {
		im.Input(now, espInUDP(1, uint32(i)))
		collect(im.Due(now))
		now = now.Add(time.Millisecond)
	}
	for range 100 {
		now = now.Add(100 * time.Millisecond)
		collect(im.Due(now))
	}
	if w := im.Waiting(); w != 0 {
		t.Fatalf("%d datagrams still waiting", w)
	}
	return got
}

func TestPassThrough(t *testing.T) {
	im := New(sideA, sideB, 1)
	got := run(t, im, 50)
	for i, s := range got {
		if s != uint32(i+1) {
			t.Fatalf("without rules datagram %d came out as %d", i+1, s)
		}
	}
	if c := im.Counters()["ab/esp"]; c.In != 50 || c.Out != 50 || c.Dropped+c.Duplicated+c.Reordered+c.Delayed != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestLossRate(t *testing.T) {
	im := New(sideA, sideB, 7)
	if err := im.SetRules([]Rule{{Dir: DirAB, Class: ClassESP, Loss: 0.3}}); err != nil {
		t.Fatal(err)
	}
	got := run(t, im, 10000)
	c := im.Counters()["ab/esp"]
	if c.Dropped+c.Out != 10000 || uint64(len(got)) != c.Out {
		t.Fatalf("counters %+v, %d delivered", c, len(got))
	}
	// 30% of 10000: the binomial standard deviation is ~46.
	if c.Dropped < 2800 || c.Dropped > 3200 {
		t.Errorf("dropped %d of 10000 at 30%% loss", c.Dropped)
	}
	// A rule for the other direction leaves this one alone (negative control).
	im2 := New(sideA, sideB, 7)
	im2.SetRules([]Rule{{Dir: DirBA, Loss: 1}})
	if got := run(t, im2, 100); len(got) != 100 {
		t.Errorf("a ba rule dropped ab datagrams: %d of 100 delivered", len(got))
	}
}

func TestDuplicate(t *testing.T) {
	im := New(sideA, sideB, 3)
	im.SetRules([]Rule{{Dup: 0.2}})
	got := run(t, im, 1000)
	c := im.Counters()["ab/esp"]
	if uint64(len(got)) != 1000+c.Duplicated || c.Duplicated < 150 || c.Duplicated > 250 {
		t.Fatalf("%d delivered, counters %+v", len(got), c)
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Fatalf("duplication reordered: %d after %d", got[i], got[i-1])
		}
	}
}

func TestReorderDepth(t *testing.T) {
	im := New(sideA, sideB, 5)
	im.SetRules([]Rule{{Reorder: 0.05, Depth: 10, Hold: Duration(time.Minute)}})
	got := run(t, im, 2000)
	c := im.Counters()["ab/esp"]
	if len(got) != 2000 || c.Reordered == 0 {
		t.Fatalf("%d delivered, counters %+v", len(got), c)
	}
	// Each held datagram comes out exactly after Depth later ones (more when holds
	// overlap), never before.
	pos := map[uint32]int{}
	for i, s := range got {
		pos[s] = i
	}
	late := 0
	for s := uint32(1); s <= 2000; s++ {
		if d := pos[s] - int(s-1); d < 0 {
			continue // moved up because others were held
		} else if d > 0 {
			late++
			if d < 10 && s <= 2000-10 {
				t.Errorf("datagram %d held back only %d places", s, d)
			}
		}
	}
	if uint64(late) < c.Reordered {
		t.Errorf("%d datagrams came late, %d were held", late, c.Reordered)
	}
}

func TestReorderHoldExpires(t *testing.T) {
	im := New(sideA, sideB, 9)
	im.SetRules([]Rule{{Reorder: 1, Hold: Duration(50 * time.Millisecond)}})
	now := time.Unix(1000, 0)
	im.Input(now, espInUDP(1, 1))
	if out := im.Due(now.Add(49 * time.Millisecond)); len(out) != 0 {
		t.Fatalf("held datagram left before its hold time")
	}
	if out := im.Due(now.Add(50 * time.Millisecond)); len(out) != 1 {
		t.Fatalf("held datagram did not leave at its hold time: %d", len(out))
	}
}

func TestDelay(t *testing.T) {
	im := New(sideA, sideB, 11)
	im.SetRules([]Rule{{Delay: Duration(100 * time.Millisecond)}})
	now := time.Unix(1000, 0)
	im.Input(now, espInUDP(1, 1))
	if out := im.Due(now.Add(99 * time.Millisecond)); len(out) != 0 {
		t.Fatal("delayed datagram left early")
	}
	if next, ok := im.Next(); !ok || !next.Equal(now.Add(100*time.Millisecond)) {
		t.Fatalf("Next = %v %v", next, ok)
	}
	if out := im.Due(now.Add(100 * time.Millisecond)); len(out) != 1 {
		t.Fatal("delayed datagram did not leave")
	}
}

func TestESPLogAndFlush(t *testing.T) {
	im := New(sideA, sideB, 13)
	im.LogESP(true)
	im.SetRules([]Rule{{Reorder: 1, Hold: Duration(time.Hour)}})
	now := time.Unix(1000, 0)
	for i := 1; i <= 3; i++ {
		im.Input(now, espInUDP(0x77, uint32(i)))
	}
	if im.Waiting() != 3 {
		t.Fatalf("waiting %d", im.Waiting())
	}
	im.Flush(now)
	if out := im.Due(now); len(out) != 3 {
		t.Fatalf("flush released %d", len(out))
	}
	log, lost := im.ESPLog()
	if len(log) != 3 || lost != 0 || log[0] != (ESPRecord{Dir: DirAB, SPI: 0x77, Seq: 1}) {
		t.Errorf("ESP log %+v (%d lost)", log, lost)
	}
	im.Reset()
	if log, _ := im.ESPLog(); len(log) != 0 || len(im.Counters()) != 0 {
		t.Errorf("reset left %v %v", log, im.Counters())
	}
}

func TestDeterministic(t *testing.T) {
	rules := []Rule{{Loss: 0.1, Dup: 0.1, Reorder: 0.1, Depth: 3, Jitter: Duration(time.Millisecond)}}
	a, b := New(sideA, sideB, 42), New(sideA, sideB, 42)
	a.SetRules(rules)
	b.SetRules(rules)
	ga, gb := run(t, a, 500), run(t, b, 500)
	if len(ga) != len(gb) {
		t.Fatalf("same seed, %d and %d delivered", len(ga), len(gb))
	}
	for i := range ga {
		if ga[i] != gb[i] {
			t.Fatalf("same seed, different order at %d", i)
		}
	}
}

func TestRuleValidation(t *testing.T) {
	im := New(sideA, sideB, 1)
	for _, r := range []Rule{{Loss: 1.5}, {Dup: -0.1}, {Dir: "up"}, {Class: "tcp"}, {Depth: -1}} {
		if err := im.SetRules([]Rule{r}); err == nil {
			t.Errorf("rule %+v accepted", r)
		}
	}
	var r Rule
	if err := json.Unmarshal([]byte(`{"hold":"250ms","delay":1000}`), &r); err != nil || time.Duration(r.Hold) != 250*time.Millisecond || r.Delay != 1000 {
		t.Errorf("JSON durations: %+v %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"hold":"soon"}`), &r); err == nil {
		t.Errorf("bad duration accepted")
	}
}

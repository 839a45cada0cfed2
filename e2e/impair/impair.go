// Command impair is the chaos tests' impairment relay: a router of its own between two
// network namespaces that drops, duplicates, reorders and delays datagrams by configurable
// rates, since this kernel has no netem. The test routes everything that crosses a middle
// namespace into a TUN device (policy routing by input interface); impair reads each packet,
// decides its fate and writes what survives back into the TUN, from where the kernel forwards
// it on. It classifies packets as IKE (UDP 500, or UDP 4500 behind the non-ESP marker), ESP
// (IP protocol 50, or ESP-in-UDP on 4500, RFC 3948) or other, per direction, and counts what
// it did to each class; for ESP it can log the (SPI, sequence number) of every datagram it
// delivered, so a test can replay the receiver's anti-replay window independently.
//
// This file is the decision logic, pure and deterministic for a given seed; main.go holds the
// device and the control socket.
package main

import (
	"container/heap"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"
)

// Classes of datagrams.
const (
	ClassIKE   = "ike"
	ClassESP   = "esp"
	ClassOther = "other"
)

// Directions: towards side B's prefix, towards side A's, or neither.
const (
	DirAB    = "ab"
	DirBA    = "ba"
	DirOther = "xx"
)

// Duration is a time.Duration that reads and writes JSON as "250ms" (or nanoseconds).
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("impair: duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("impair: duration %s: want a string like \"250ms\"", b)
	}
	*d = Duration(n)
	return nil
}

// Rule impairs the datagrams of a direction and class ("" matches any). The first rule that
// matches a datagram applies; without one it passes untouched.
type Rule struct {
	Dir   string `json:"dir,omitempty"`
	Class string `json:"class,omitempty"`
	// Loss is the probability that a datagram is dropped.
	Loss float64 `json:"loss,omitempty"`
	// Dup is the probability that a datagram is delivered twice (the copy right after it).
	Dup float64 `json:"dup,omitempty"`
	// Reorder is the probability that a datagram is held back while later ones pass: until
	// Depth later datagrams of its direction and class went through, or for Hold at most
	// (Hold 0 = 1 s; Depth 0 = only Hold counts).
	Reorder float64  `json:"reorder,omitempty"`
	Depth   int      `json:"depth,omitempty"`
	Hold    Duration `json:"hold,omitempty"`
	// Delay is added to every datagram, plus a uniform 0..Jitter (jitter reorders too).
	Delay  Duration `json:"delay,omitempty"`
	Jitter Duration `json:"jitter,omitempty"`
}

func (r *Rule) matches(dir, class string) bool {
	return (r.Dir == "" || r.Dir == dir) && (r.Class == "" || r.Class == class)
}

// Validate checks the probabilities and durations.
func (r *Rule) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", r.Loss}, {"dup", r.Dup}, {"reorder", r.Reorder}} {
		if p.v < 0 || p.v > 1 {
			return fmt.Errorf("impair: %s %v is not a probability", p.name, p.v)
		}
	}
	switch r.Dir {
	case "", DirAB, DirBA, DirOther:
	default:
		return fmt.Errorf("impair: direction %q (want ab, ba or xx)", r.Dir)
	}
	switch r.Class {
	case "", ClassIKE, ClassESP, ClassOther:
	default:
		return fmt.Errorf("impair: class %q (want ike, esp or other)", r.Class)
	}
	if r.Depth < 0 || r.Hold < 0 || r.Delay < 0 || r.Jitter < 0 {
		return fmt.Errorf("impair: negative depth or duration")
	}
	return nil
}

// Counter is what happened to one direction and class.
type Counter struct {
	In         uint64 `json:"in"`         // datagrams read
	Out        uint64 `json:"out"`        // datagrams written (duplicates included)
	Dropped    uint64 `json:"dropped"`    // lost on purpose
	Duplicated uint64 `json:"duplicated"` // extra copies made
	Reordered  uint64 `json:"reordered"`  // held back while later ones passed
	Delayed    uint64 `json:"delayed"`    // given a delay or jitter
}

// ESPRecord is one ESP datagram as delivered.
type ESPRecord struct {
	Dir string `json:"d"`
	SPI uint32 `json:"spi"`
	Seq uint32 `json:"seq"`
}

// maxESPLog bounds the ESP log (a test reads it and resets it).
const maxESPLog = 1 << 20

// Impairer decides the fate of each datagram. Not safe for concurrent use: one goroutine
// feeds it (Input), asks what is due (Due, Next) and changes its rules (SetRules).
type Impairer struct {
	a, b     netip.Prefix
	rules    []Rule
	rng      *rand.Rand
	counters map[string]*Counter
	passed   map[string]uint64 // datagrams past the reorder stage, per direction/class
	held     map[string][]*item
	sched    schedule
	order    uint64
	logESP   bool
	espLog   []ESPRecord
	dropped  uint64 // ESP log entries refused (full)
}

// item is a datagram waiting: scheduled at a time, or held for reordering.
type item struct {
	at     time.Time
	order  uint64
	pkt    []byte
	key    string // dir/class
	dir    string
	class  string
	rule   *Rule
	held   bool   // waiting in held[key]
	target uint64 // held: released when passed[key] reaches it
	expire bool   // a hold deadline marker in the schedule
	of     *item  // the held item an expire marker releases
	index  int
}

// New returns an impairer for traffic between prefixes a and b, with a seeded generator.
func New(a, b netip.Prefix, seed uint64) *Impairer {
	return &Impairer{a: a, b: b, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		counters: map[string]*Counter{}, passed: map[string]uint64{}, held: map[string][]*item{}}
}

// SetRules replaces the rules (datagrams already waiting keep their fate).
func (im *Impairer) SetRules(rules []Rule) error {
	for i := range rules {
		if err := rules[i].Validate(); err != nil {
			return err
		}
	}
	im.rules = append([]Rule(nil), rules...)
	return nil
}

// Rules returns the current rules.
func (im *Impairer) Rules() []Rule { return append([]Rule(nil), im.rules...) }

// LogESP turns the ESP log on or off.
func (im *Impairer) LogESP(on bool) { im.logESP = on }

// Reset zeroes the counters and empties the ESP log.
func (im *Impairer) Reset() {
	im.counters = map[string]*Counter{}
	im.espLog = nil
	im.dropped = 0
}

// Counters returns a copy of the counters by "dir/class".
func (im *Impairer) Counters() map[string]Counter {
	out := map[string]Counter{}
	for k, c := range im.counters {
		out[k] = *c
	}
	return out
}

// ESPLog returns the ESP datagrams delivered since the last Reset, in order, and how many
// more were not logged because the log was full.
func (im *Impairer) ESPLog() ([]ESPRecord, uint64) {
	return append([]ESPRecord(nil), im.espLog...), im.dropped
}

// Waiting is how many datagrams are scheduled or held.
func (im *Impairer) Waiting() int {
	n := 0
	for _, it := range im.sched {
		if !it.expire {
			n++
		}
	}
	for _, h := range im.held {
		n += len(h)
	}
	return n
}

func (im *Impairer) counter(key string) *Counter {
	c := im.counters[key]
	if c == nil {
		c = &Counter{}
		im.counters[key] = c
	}
	return c
}

// Input takes a packet read at now (ownership passes to the impairer).
func (im *Impairer) Input(now time.Time, pkt []byte) {
	dir, class := im.classify(pkt)
	key := dir + "/" + class
	c := im.counter(key)
	c.In++
	var rule *Rule
	for i := range im.rules {
		if im.rules[i].matches(dir, class) {
			rule = &im.rules[i]
			break
		}
	}
	if rule == nil {
		im.pass(now, &item{pkt: pkt, key: key, dir: dir, class: class})
		return
	}
	if rule.Loss > 0 && im.rng.Float64() < rule.Loss {
		c.Dropped++
		return
	}
	copies := 1
	if rule.Dup > 0 && im.rng.Float64() < rule.Dup {
		c.Duplicated++
		copies = 2
	}
	for i := range copies {
		p := pkt
		if i > 0 {
			p = append([]byte(nil), pkt...)
		}
		it := &item{pkt: p, key: key, dir: dir, class: class, rule: rule}
		// A duplicate is never held back: it follows its original.
		if i == 0 && rule.Reorder > 0 && im.rng.Float64() < rule.Reorder {
			c.Reordered++
			im.hold(now, it)
			continue
		}
		im.pass(now, it)
	}
}

// hold keeps a datagram back until Depth later ones passed or Hold elapsed.
func (im *Impairer) hold(now time.Time, it *item) {
	it.held = true
	if it.rule.Depth > 0 {
		it.target = im.passed[it.key] + uint64(it.rule.Depth)
	} else {
		it.target = ^uint64(0)
	}
	im.held[it.key] = append(im.held[it.key], it)
	hold := time.Duration(it.rule.Hold)
	if hold == 0 {
		hold = time.Second
	}
	im.push(&item{at: now.Add(hold), expire: true, of: it})
}

// pass moves a datagram past the reorder stage: it is scheduled after its delay, and held
// datagrams whose depth is reached follow it.
func (im *Impairer) pass(now time.Time, it *item) {
	im.schedule(now, it)
	im.passed[it.key]++
	n := im.passed[it.key]
	hs := im.held[it.key]
	keep := hs[:0]
	for _, h := range hs {
		if h.target <= n {
			h.held = false
			im.schedule(now, h)
		} else {
			keep = append(keep, h)
		}
	}
	clear(hs[len(keep):])
	im.held[it.key] = keep
}

func (im *Impairer) schedule(now time.Time, it *item) {
	it.at = now
	if r := it.rule; r != nil && (r.Delay > 0 || r.Jitter > 0) {
		d := time.Duration(r.Delay)
		if r.Jitter > 0 {
			d += time.Duration(im.rng.Int64N(int64(r.Jitter) + 1))
		}
		it.at = now.Add(d)
		im.counter(it.key).Delayed++
	}
	im.push(it)
}

func (im *Impairer) push(it *item) {
	im.order++
	it.order = im.order
	heap.Push(&im.sched, it)
}

// Next returns when the next datagram is due (false: nothing waits on time).
func (im *Impairer) Next() (time.Time, bool) {
	if len(im.sched) == 0 {
		return time.Time{}, false
	}
	return im.sched[0].at, true
}

// Due returns the datagrams to write at now, in order.
func (im *Impairer) Due(now time.Time) [][]byte {
	var out [][]byte
	for len(im.sched) > 0 && !im.sched[0].at.After(now) {
		it := heap.Pop(&im.sched).(*item)
		if it.expire {
			h := it.of
			if !h.held {
				continue // released by depth already
			}
			hs := im.held[h.key]
			for i, x := range hs {
				if x == h {
					im.held[h.key] = append(hs[:i], hs[i+1:]...)
					break
				}
			}
			h.held = false
			im.schedule(now, h)
			continue
		}
		im.counter(it.key).Out++
		if it.class == ClassESP && im.logESP {
			if spi, seq, ok := espSeq(it.pkt); ok {
				if len(im.espLog) < maxESPLog {
					im.espLog = append(im.espLog, ESPRecord{Dir: it.dir, SPI: spi, Seq: seq})
				} else {
					im.dropped++
				}
			}
		}
		out = append(out, it.pkt)
	}
	return out
}

// Flush releases every held datagram now (the test wants the relay quiet).
func (im *Impairer) Flush(now time.Time) {
	for k, hs := range im.held {
		for _, h := range hs {
			h.held = false
			im.schedule(now, h)
		}
		delete(im.held, k)
	}
}

// schedule is a min-heap of items by time, then arrival order.
type schedule []*item

func (s schedule) Len() int { return len(s) }
func (s schedule) Less(i, j int) bool {
	if !s[i].at.Equal(s[j].at) {
		return s[i].at.Before(s[j].at)
	}
	return s[i].order < s[j].order
}
func (s schedule) Swap(i, j int) { s[i], s[j] = s[j], s[i]; s[i].index, s[j].index = i, j }
func (s *schedule) Push(x any)   { it := x.(*item); it.index = len(*s); *s = append(*s, it) }
func (s *schedule) Pop() any {
	old := *s
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	return it
}
func (s schedule) String() string { return fmt.Sprintf("%d scheduled", len(s)) }

// classify returns a packet's direction (by destination) and class.
func (im *Impairer) classify(pkt []byte) (dir, class string) {
	src, dst, proto, l4, ok := ipHeader(pkt)
	dir = DirOther
	switch {
	case !ok:
		return dir, ClassOther
	case im.b.Contains(dst) && !im.b.Contains(src):
		dir = DirAB
	case im.a.Contains(dst) && !im.a.Contains(src):
		dir = DirBA
	}
	return dir, classOf(proto, l4)
}

// classOf tells IKE from ESP: IP protocol 50 is ESP; on UDP, port 500 is IKE and port 4500
// carries IKE behind a four-byte zero non-ESP marker, ESP otherwise (RFC 3948 §2.2), or a
// one-byte NAT keepalive (counted as other).
func classOf(proto byte, l4 []byte) string {
	switch proto {
	case 50:
		return ClassESP
	case 17:
		if len(l4) < 8 {
			return ClassOther
		}
		sp, dp := binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
		payload := l4[8:]
		switch {
		case sp == 500 || dp == 500:
			return ClassIKE
		case sp == 4500 || dp == 4500:
			switch {
			case len(payload) >= 4 && binary.BigEndian.Uint32(payload) == 0:
				return ClassIKE
			case len(payload) >= 8:
				return ClassESP
			}
		}
	}
	return ClassOther
}

// espSeq returns the SPI and sequence number of an ESP or ESP-in-UDP packet.
func espSeq(pkt []byte) (spi, seq uint32, ok bool) {
	_, _, proto, l4, okh := ipHeader(pkt)
	if !okh {
		return 0, 0, false
	}
	if proto == 17 {
		if len(l4) < 16 {
			return 0, 0, false
		}
		l4 = l4[8:]
	}
	if len(l4) < 8 || (proto != 50 && proto != 17) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(l4), binary.BigEndian.Uint32(l4[4:]), true
}

// ipHeader parses an IPv4 (any options) or IPv6 (no extension headers) header.
func ipHeader(pkt []byte) (src, dst netip.Addr, proto byte, l4 []byte, ok bool) {
	if len(pkt) < 1 {
		return
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return
		}
		hl := int(pkt[0]&0x0f) * 4
		if hl < 20 || len(pkt) < hl {
			return
		}
		if binary.BigEndian.Uint16(pkt[6:])&0x1fff != 0 {
			// A later fragment has no transport header.
			return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20])), 0, nil, true
		}
		return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20])), pkt[9], pkt[hl:], true
	case 6:
		if len(pkt) < 40 {
			return
		}
		return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40])), pkt[6], pkt[40:], true
	}
	return
}

// describe renders rules for the log.
func describe(rules []Rule) string {
	if len(rules) == 0 {
		return "none"
	}
	var parts []string
	for _, r := range rules {
		b, _ := json.Marshal(r)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, " ")
}

//go:build linux

package e2e

// ike-scan probing oakley's responder (issue 4 §4, case 6): Main Mode and Aggressive Mode
// probes get a well-formed "Handshake returned" with the SA oakley chose (and, with
// SHA-1, psk-crack confirms the Aggressive Mode HASH_R against the PSK); ike-scan's
// default offer gets NO-PROPOSAL-CHOSEN. Then a flood of captured Main Mode first messages
// with random cookies from many addresses and ports: the half-open state stays within its
// bounds and expires, memory stays bounded, oakley never sends an address more bytes than
// it received from it, and a legitimate initiator still gets through.

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// udpIn opens a UDP socket bound to laddr inside ns: one locked OS thread enters the
// namespace just to create it (a socket stays in the namespace it was made in).
func udpIn(t *testing.T, ns netns, laddr string) *net.UDPConn {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp4", laddr)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   *net.UDPConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{nil, err}
			return // the thread stays locked and dies with this goroutine
		}
		defer unix.Close(orig)
		target, err := unix.Open("/var/run/netns/"+string(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, err}
			return
		}
		c, err := net.ListenUDP("udp4", a)
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("UDP socket on %s in %s: %v", laddr, ns, r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// ikeScan runs ike-scan in ns and returns its output (ike-scan exits 0 even for notifies).
func ikeScan(t *testing.T, ns netns, args ...string) string {
	t.Helper()
	out, err := ns.run("ike-scan", args...)
	if err != nil {
		t.Fatalf("ike-scan %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// scanResponder starts oakley as a responder on the right site for any address, with the
// proposals ike-scan offers below and Aggressive Mode allowed (insecure opt-in).
func scanResponder(t *testing.T, tp *ioTopo, psk string, aggressive bool) (*oakley, ikeSite) {
	t.Helper()
	s := siteFor(tp, tp.right, psk)
	s.RemoteAddr = "%any"
	s.Aggressive, s.Insecure = aggressive, aggressive
	s.Proposals = []string{"aes256-sha256-modp2048", "aes128-sha1-modp2048"}
	s.LogLevel = "info"
	return startIKE(t, tp.right, "responder", s), s
}

var (
	hsReturned = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(outerB4) + `\t(Main|Aggressive) Mode Handshake returned`)
	scanEnding = regexp.MustCompile(`(\d+) returned handshake; (\d+) returned notify`)
)

// TestInteropIKEScan probes oakley's responder with ike-scan.
func TestInteropIKEScan(t *testing.T) {
	needNetns(t)
	needTools(t, "ike-scan")
	t.Parallel()
	tp := newTopo(t, false)
	psk := newPSK(t)

	t.Run("main-mode", func(t *testing.T) {
		scanResponder(t, tp, psk, false)
		out := ikeScan(t, tp.left.ns, "--sport=0", "--trans=7/256,4,1,14", outerB4)
		if !hsReturned.MatchString(out) || !strings.Contains(out, "Main Mode Handshake returned") {
			t.Fatalf("no Main Mode handshake:\n%s", out)
		}
		checkScanSA(t, out, "HDR=(CKY-R=")
		if m := scanEnding.FindStringSubmatch(out); m == nil || m[1] != "1" || m[2] != "0" {
			t.Errorf("ike-scan summary: want 1 handshake, 0 notify:\n%s", out)
		}
		t.Logf("ike-scan: %s", firstLine(out, outerB4))
	})
	t.Run("main-mode-default-offer-no-proposal", func(t *testing.T) {
		o, _ := scanResponder(t, tp, psk, false)
		out := ikeScan(t, tp.left.ns, "--sport=0", outerB4)
		if !strings.Contains(out, "Notify message 14 (NO-PROPOSAL-CHOSEN)") {
			t.Errorf("ike-scan's default offer (DES/3DES, MD5/SHA1, MODP1024) did not get NO-PROPOSAL-CHOSEN:\n%s", out)
		}
		if n := o.mustIKEStatus(t).IKECounters["no_proposal"]; n == 0 {
			t.Errorf("oakley did not count the refused proposal (no_proposal = 0)")
		}
		if !o.p.logged("peer offered") {
			t.Errorf("oakley's log does not say what the peer offered")
		}
		t.Logf("ike-scan: %s", firstLine(out, outerB4))
	})
	t.Run("aggressive-mode", func(t *testing.T) {
		scanResponder(t, tp, psk, true)
		out := ikeScan(t, tp.left.ns, "--sport=0", "--aggressive", "--id="+leftID, "--idtype=2", "--dhgroup=14", "--trans=7/256,4,1,14", outerB4)
		if !strings.Contains(out, "Aggressive Mode Handshake returned") {
			t.Fatalf("no Aggressive Mode handshake:\n%s", out)
		}
		checkScanSA(t, out, "KeyExchange(256 bytes)", "Nonce(", "ID(Type=ID_FQDN, Value="+rightID+")", "Hash(32 bytes)")
		t.Logf("ike-scan: %s", firstLine(out, outerB4))
	})
	t.Run("aggressive-mode-psk-crack", func(t *testing.T) {
		needTools(t, "psk-crack")
		scanResponder(t, tp, psk, true)
		dir := t.TempDir()
		params := filepath.Join(dir, "params")
		out := ikeScan(t, tp.left.ns, "--sport=0", "--aggressive", "--id="+leftID, "--idtype=2", "--dhgroup=14", "--trans=7/128,2,1,14", "--pskcrack="+params, outerB4)
		if !strings.Contains(out, "Aggressive Mode Handshake returned") || !strings.Contains(out, "Hash(20 bytes)") {
			t.Fatalf("no Aggressive Mode handshake with SHA-1:\n%s", out)
		}
		// psk-crack recomputes HASH_R (RFC 2409 §5) from the captured values: only the
		// right key may match.
		words := filepath.Join(dir, "words")
		if err := os.WriteFile(words, []byte("password\n"+newPSK(t)+"\n"+psk+"\nletmein\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		crack, err := runTimeout(60*time.Second, "psk-crack", "-d", words, params)
		if err != nil || !strings.Contains(crack, "matches") || !strings.Contains(crack, psk) {
			t.Errorf("psk-crack did not confirm oakley's HASH_R with the PSK (%v)", err) // its output would show the PSK
		}
		if strings.Count(crack, "matches") != 1 {
			t.Errorf("psk-crack matched %d keys, want exactly the PSK", strings.Count(crack, "matches"))
		}
		t.Logf("psk-crack confirms oakley's Aggressive Mode HASH_R (SHA-1) with the configured PSK, and no other word")
	})
	t.Run("flood", func(t *testing.T) {
		ikeFlood(t, tp, psk)
	})
}

var scanSA = regexp.MustCompile(`SA=\(([^)]*)\)`)

// checkScanSA checks that ike-scan decoded the SA oakley chose (AES-256, SHA2-256, PSK,
// MODP2048, a lifetime in seconds; in whatever order oakley put the attributes) and the
// other fields named.
func checkScanSA(t *testing.T, out string, fields ...string) {
	t.Helper()
	m := scanSA.FindStringSubmatch(out)
	if m == nil {
		t.Errorf("ike-scan shows no SA in the answer:\n%s", out)
		return
	}
	attrs := map[string]bool{}
	for _, a := range strings.Fields(m[1]) {
		attrs[a] = true
	}
	for _, want := range []string{"Enc=AES", "KeyLength=256", "Hash=SHA2-256", "Group=14:modp2048", "Auth=PSK", "LifeType=Seconds"} {
		if !attrs[want] {
			t.Errorf("ike-scan's SA=(%s) lacks %s", m[1], want)
		}
	}
	for _, f := range fields {
		if !strings.Contains(out, f) {
			t.Errorf("ike-scan's answer lacks %q:\n%s", f, out)
		}
	}
}

// firstLine returns the line of out that starts with addr.
func firstLine(out, addr string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, addr) {
			return l
		}
	}
	return ""
}

// captureMM1 has ike-scan send its Main Mode first message (AES-256, SHA2-256, PSK, MODP2048)
// to a socket of ours and returns the bytes.
func captureMM1(t *testing.T, ns netns) []byte {
	t.Helper()
	l := udpIn(t, ns, "127.0.0.1:0")
	port := l.LocalAddr().(*net.UDPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		ns.run("ike-scan", "--sport=0", "--dport="+strconv.Itoa(port), "--retry=1", "--timeout=300", "--trans=7/256,4,1,14", "127.0.0.1")
	}()
	defer func() { <-done }()
	buf := make([]byte, 4096)
	l.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := l.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("capturing ike-scan's Main Mode message 1: %v", err)
	}
	if n < 28 || buf[18] != 2 || binary.BigEndian.Uint32(buf[24:28]) != uint32(n) {
		t.Fatalf("captured %d bytes that are not an ISAKMP Main Mode message: %x", n, buf[:n])
	}
	return append([]byte(nil), buf[:n]...)
}

// floodStats is what the flood senders saw.
type floodStats struct {
	mu                sync.Mutex
	sent, recv        map[string]int // bytes per source address
	replies, bigger   int
	maxReply, request int
	notMM2            int
}

// flood sends perAddr copies of mm1 with random initiator cookies from each address (spread
// over ports sockets per address) to oakley and collects the answers for 2 s.
func flood(t *testing.T, ns netns, mm1 []byte, addrs []string, ports, perAddr int, st *floodStats) {
	t.Helper()
	floodTo(t, ns, outerB4, mm1, addrs, ports, perAddr, st)
}

// floodTo is flood towards another address (port 500).
func floodTo(t *testing.T, ns netns, to string, mm1 []byte, addrs []string, ports, perAddr int, st *floodStats) {
	t.Helper()
	dst := &net.UDPAddr{IP: net.ParseIP(to), Port: 500}
	var wg sync.WaitGroup
	for _, a := range addrs {
		for p := 0; p < ports; p++ {
			c := udpIn(t, ns, a+":0")
			sentCookies := map[[8]byte]bool{}
			for i := 0; i < perAddr/ports; i++ {
				m := append([]byte(nil), mm1...)
				rand.Read(m[:8])
				var ck [8]byte
				copy(ck[:], m[:8])
				sentCookies[ck] = true
				if _, err := c.WriteToUDP(m, dst); err != nil {
					t.Fatalf("sending from %s: %v", a, err)
				}
				st.mu.Lock()
				st.sent[a] += len(m)
				st.mu.Unlock()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 65536)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				for {
					n, _, err := c.ReadFromUDP(buf)
					if err != nil {
						return
					}
					var ck [8]byte
					copy(ck[:], buf[:8])
					st.mu.Lock()
					st.recv[a] += n
					st.replies++
					st.maxReply = max(st.maxReply, n)
					if n > len(mm1) {
						st.bigger++
					}
					// A Main Mode message 2 for one of our cookies, with a responder cookie.
					if n < 28 || !sentCookies[ck] || buf[18] != 2 || binary.BigEndian.Uint64(buf[8:16]) == 0 {
						st.notMM2++
					}
					st.mu.Unlock()
				}
			}()
		}
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
}

// halfOpen counts oakley's ISAKMP SAs that are not established.
func halfOpen(s *ikeStatus) int {
	n := 0
	for _, c := range s.Connections {
		for _, sa := range c.IKESAs {
			if sa.State != "established" {
				n++
			}
		}
	}
	return n
}

// rssKB is the resident set size of a process in kB.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS for pid %d", pid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// Half-open bounds of the IKE engine (ike/config.go: halfOpenMax, halfOpenPerSource,
// halfOpenTimeout), which the flood must see enforced.
const (
	halfOpenMax       = 1024
	halfOpenPerSource = 32
	halfOpenTimeout   = 30 * time.Second
)

func ikeFlood(t *testing.T, tp *ioTopo, psk string) {
	o, _ := scanResponder(t, tp, psk, false)
	mm1 := captureMM1(t, tp.left.ns)
	// Spoofed sources: more addresses on the left veth (198.18.0.100-149).
	var spoofed []string
	for i := 100; i < 150; i++ {
		a := "198.18.0." + strconv.Itoa(i)
		tp.left.ns.mustRun(t, "ip", "addr", "add", a+"/24", "dev", "veth0")
		spoofed = append(spoofed, a)
	}
	rss0 := rssKB(t, o.p.cmd.Process.Pid)
	st := &floodStats{sent: map[string]int{}, recv: map[string]int{}, request: len(mm1)}

	// Phase 1: 2000 first messages from 10 addresses, 20 ports each: the per-source bound.
	// oakley answers each first message it keeps state for (Main Mode message 2) and drops
	// the others, so the answers count the half-open SAs it created. (`oakley status` does
	// not show half-open SAs, nor a gauge of them.)
	flood(t, tp.left.ns, mm1, spoofed[:10], 20, 200, st)
	s := o.mustIKEStatus(t)
	st.mu.Lock()
	a1 := st.replies
	st.mu.Unlock()
	t.Logf("2000 Main Mode first messages (%d bytes each) from 10 addresses x 20 ports: %d answered, counters %s",
		len(mm1), a1, pick(s.IKECounters, "messages_in", "half_open_drops", "inbox_full", "amplification_drops"))
	if a1 == 0 || a1 > 10*halfOpenPerSource {
		t.Errorf("%d first messages from 10 addresses answered; want 1..%d (%d half-open SAs per source)", a1, 10*halfOpenPerSource, halfOpenPerSource)
	}
	if d := s.IKECounters["half_open_drops"] + s.IKECounters["inbox_full"]; d < uint64(2000-10*halfOpenPerSource) {
		t.Errorf("only %d first messages dropped (half_open_drops + inbox_full) of 2000 from 10 sources", d)
	}
	// A legitimate initiator from another address is answered at once.
	if out := ikeScan(t, tp.left.ns, "--sport=0", "--trans=7/256,4,1,14", outerB4); !strings.Contains(out, "Main Mode Handshake returned") {
		t.Errorf("after the flood, a legitimate Main Mode probe from %s got no handshake:\n%s", outerA4, out)
	}

	// Phase 2: 1600 more from 40 other addresses, 40 each: the global bound.
	flood(t, tp.left.ns, mm1, spoofed[10:], 4, 40, st)
	s = o.mustIKEStatus(t)
	rss1 := rssKB(t, o.p.cmd.Process.Pid)
	st.mu.Lock()
	a2 := st.replies
	st.mu.Unlock()
	t.Logf("1600 more from 40 addresses: %d answered in all (global bound %d half-open SAs); RSS %d -> %d kB; counters %s", a2, halfOpenMax, rss0, rss1,
		pick(s.IKECounters, "messages_in", "half_open", "half_open_drops", "half_open_evicted", "inbox_full", "amplification_drops"))
	// The table is bounded: once full, each newcomer evicts the oldest entry.
	if h := s.IKECounters["half_open"]; h > halfOpenMax {
		t.Errorf("%d half-open SAs, more than the %d allowed", h, halfOpenMax)
	}
	if a2 > halfOpenMax && s.IKECounters["half_open_evicted"] == 0 {
		t.Errorf("%d first messages answered but no half-open SA evicted", a2)
	}
	if rss1-rss0 > 64*1024 {
		t.Errorf("oakley's memory grew by %d kB during the flood", rss1-rss0)
	}
	// With the table full, is a legitimate initiator (another address) still answered?
	lockout := !strings.Contains(ikeScan(t, tp.left.ns, "--sport=0", "--trans=7/256,4,1,14", outerB4), "Main Mode Handshake returned")

	// Bytes per address: what oakley sent each spoofed address against what it received.
	st.mu.Lock()
	var amplified []string
	for _, a := range spoofed {
		if st.recv[a] > st.sent[a] {
			amplified = append(amplified, fmt.Sprintf("%s: sent us %d bytes, got %d", a, st.sent[a], st.recv[a]))
		}
	}
	if st.notMM2 > 0 {
		t.Errorf("%d answers were not a Main Mode message 2 for a cookie we sent", st.notMM2)
	}
	replies, bigger, maxReply := st.replies, st.bigger, st.maxReply
	st.mu.Unlock()
	t.Logf("%d answers in all, the largest %d bytes for a %d-byte request; %d answers larger than their request", replies, maxReply, len(mm1), bigger)

	// The half-open SAs expire (30 s after they were made).
	start := time.Now()
	s = waitIKE(t, o, "every half-open SA expired or evicted", halfOpenTimeout+15*time.Second, func(s *ikeStatus) bool {
		return s.IKECounters["half_open"] == 0 && s.IKECounters["half_open_expired"]+s.IKECounters["half_open_evicted"] >= uint64(replies)
	})
	t.Logf("half_open_expired = %d, half_open_evicted = %d, %s after the flood", s.IKECounters["half_open_expired"], s.IKECounters["half_open_evicted"], time.Since(start).Round(time.Second))
	if o.p.exited() {
		t.Fatalf("oakley exited during the flood: %v", o.p.err)
	}
	// A real initiator (oakley on the left) builds a tunnel afterwards.
	ls := siteFor(tp, tp.left, psk)
	ls.Proposals = []string{"aes256-sha256-modp2048"}
	l := startIKE(t, tp.left, "initiator", ls)
	l.mustCtl(t, "initiate", ls.connName()+"/net")
	waitChildUp(t, l, 10*time.Second)
	pingBoth(t, tp, 2)

	t.Run("no-amplification-per-address", func(t *testing.T) {
		if len(amplified) > 0 {
			t.Errorf("oakley sent %d unauthenticated addresses more bytes than they sent it (answers up to %d bytes for a %d-byte "+
				"Main Mode message 1), e.g. %s; STANDARDS.md: never answer a first message with more than it carried", len(amplified), maxReply, len(mm1), amplified[0])
		}
	})
	t.Run("legitimate-initiator-while-half-open-table-full", func(t *testing.T) {
		if lockout {
			t.Errorf("with %d half-open SAs from 50 spoofed addresses (1024 = halfOpenMax), a Main Mode probe from another "+
				"address got no answer: the full table must make room for newcomers", a2)
		}
	})
}

// pick formats some counters.
func pick(m map[string]uint64, names ...string) string {
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s=%d", n, m[n]))
	}
	return strings.Join(parts, " ")
}

//go:build linux

package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// espTunnelMTU is the largest inner packet one ESP-in-UDP packet over outer IPv4 carries on
// a path of pathMTU bytes (RFC 4303 §2: SPI 4 + sequence number 4 + IV + payload, padded
// with the 2 trailer bytes to a multiple of the block size (at least 4), + ICV; RFC 3948: a
// UDP header of 8; an outer IPv4 header of 20).
func espTunnelMTU(pathMTU, ivSize, icvSize, blockSize int) int {
	room := pathMTU - 20 - 8 - 4 - 4 - ivSize - icvSize
	return room/blockSize*blockSize - 2
}

// TestMTU: with [device] mtu = 1500 on a 1500-byte veth the TUN accepts packets the tunnel
// cannot carry, so oakley itself must answer a too-big packet with DF set (IPv4: ICMP
// "fragmentation needed", RFC 1191; IPv6: "packet too big", RFC 8201) carrying the tunnel
// MTU; a packet of exactly the tunnel MTU crosses; and TCP SYNs leave the far side's TUN
// with their MSS clamped to the tunnel MTU (RFC 4301 §8, RFC 6691).
func TestMTU(t *testing.T) {
	needNetns(t)
	needTools(t, "tshark", "bash")
	t.Parallel()
	p := newPair(t, false, 1500)
	a, b := startPair(t, p, tunnelSpec{Proposal: "aes128gcm16", Families: "46", MTU: 1500})
	mtu := espTunnelMTU(1500, 8, 16, 4) // AES-GCM-16: 8-byte IV, 16-byte ICV (RFC 4106)
	if s := a.mustStatus(t); s.Device.MTU != 1500 {
		t.Fatalf("device MTU %d, want the configured 1500", s.Device.MTU)
	}

	t.Run("mss-clamp", func(t *testing.T) {
		// Capture the SYNs as they leave B's TUN, i.e. after A's oakley clamped them.
		capture := startProc(t, "tshark", p.b.args("tshark", "-i", "oakley0", "-n", "-l", "-f", "tcp",
			"-T", "fields", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.options.mss_val")...)
		waitCapturing(t, capture)
		for _, dst := range []string{hostB4, hostB6} {
			// A SYN to a closed port (discard, 9) crosses the tunnel; B answers with RST. Try
			// again until tshark shows it: it may print "Capturing on" a moment before it does.
			for try := 0; !strings.Contains(capture.out.String(), dst+"\t"); try++ {
				if try == 50 {
					t.Fatalf("no SYN to %s seen on B's TUN; tshark:\n%s", dst, capture.out.String())
				}
				p.a.run("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/9", dst))
				time.Sleep(200 * time.Millisecond)
			}
		}
		capture.signal(syscall.SIGINT)
		if !capture.wait(10 * time.Second) {
			t.Fatalf("tshark did not stop:\n%s", capture.out.String())
		}
		seen := map[string]int{}
		for _, l := range strings.Split(capture.out.String(), "\n") {
			f := strings.Split(l, "\t")
			if len(f) != 5 || !isTrue(f[2]) || isTrue(f[3]) {
				continue
			}
			mss, err := strconv.Atoi(f[4])
			if err != nil {
				t.Errorf("SYN without an MSS option: %q", l)
				continue
			}
			dst, limit := f[0], mtu-40 // IPv4 + TCP headers
			if f[1] != "" {
				dst, limit = f[1], mtu-60 // IPv6 + TCP headers
			}
			seen[dst] = mss
			if mss > limit {
				t.Errorf("SYN to %s left B's TUN with MSS %d; the tunnel MTU %d allows at most %d", dst, mss, mtu, limit)
			}
		}
		if seen[hostB4] == 0 || seen[hostB6] == 0 {
			t.Fatalf("captured SYNs to %v on B's TUN, want one to %s and one to %s; tshark:\n%s", seen, hostB4, hostB6, capture.out.String())
		}
		t.Logf("MSS of the SYNs after clamping: %v (tunnel MTU %d, device MTU 1500)", seen, mtu)
		if n := a.mustStatus(t).Counters["mss_clamped"]; n < 2 {
			t.Errorf("A counted mss_clamped = %d, want >= 2", n)
		}
	})

	mtuRE := regexp.MustCompile(`mtu\s*[=:]\s*(\d+)`)
	for _, c := range []struct {
		name, src, dst string
		hdr            int // IP + ICMP header
	}{{"ipv4", hostA4, hostB4, 28}, {"ipv6", hostA6, hostB6, 48}} {
		t.Run("pmtu-"+c.name, func(t *testing.T) {
			// One byte too big, with DF (-M do): oakley answers with the tunnel MTU.
			out, got, _ := ping(p.a, c.src, c.dst, 2, "-M", "do", "-s", strconv.Itoa(mtu-c.hdr+1))
			m := mtuRE.FindStringSubmatch(out)
			if got != 0 || m == nil || m[1] != strconv.Itoa(mtu) {
				t.Fatalf("a %d-byte packet with DF set: want no reply and an ICMP error naming mtu %d back at the sender; ping said:\n%s", mtu+1, mtu, out)
			}
			// Exactly the tunnel MTU, with DF: crosses whole.
			out, got, err := ping(p.a, c.src, c.dst, 2, "-M", "do", "-s", strconv.Itoa(mtu-c.hdr))
			if got != 2 {
				t.Fatalf("a %d-byte packet with DF set did not cross (%v):\n%s", mtu, err, out)
			}
		})
	}
	s := a.mustStatus(t)
	if n := s.Counters["icmp_too_big_sent"]; n < 2 {
		t.Errorf("A counted icmp_too_big_sent = %d, want >= 2", n)
	}
	checkSAsCarried(t, a, "ESP")
	checkSAsCarried(t, b, "ESP")
}

// isTrue reads a tshark boolean field ("1" in tshark 4.0, "True" in later versions).
func isTrue(s string) bool { return s == "1" || strings.EqualFold(s, "true") }

// waitCapturing waits until tshark says it is capturing.
func waitCapturing(t *testing.T, p *proc) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), "Capturing on") {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("tshark did not start capturing:\n%s", p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

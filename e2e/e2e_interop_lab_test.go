//go:build linux

package e2e

// Shared pieces of the interop tests (issue 4 §4 and §5): the topologies, two or three
// namespaces with an inner host address per site, and the traffic helpers. oakley's side is
// in e2e_interop_oakleyconf_test.go, strongSwan's in e2e_interop_swanconf_test.go.
//
//	direct: [left]  veth0 198.18.0.1/24 ------------------------------------ veth0 198.18.0.2/24 [right]
//	nat:    [left]  veth0 198.18.1.1/24 -- .254 [nat] 198.18.0.254 (MASQUERADE) -- veth0 198.18.0.2/24 [right]
//	        left's default route is the NAT; right has no route back to 198.18.1.0/24.
//	inner:  left 192.0.2.1 (192.0.2.0/24), right 198.51.100.1 (198.51.100.0/24): on oakley's TUN
//	        ([device] addresses) or on lo for charon, which routes through ipsec0 (table 220).

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"oakley/e2e/lab"
)

// Addresses of the NAT topology (the direct one uses outerA4/outerB4 of e2e_netns_test.go).
const (
	natLeft4    = "198.18.1.1"
	natInside4  = "198.18.1.254"
	natOutside4 = "198.18.0.254"
)

// ioSide is one site of an interop topology.
type ioSide struct {
	name  string // "left" or "right"
	ns    netns
	outer string // its address on veth0
	seen  string // its address as the other site sees it (the NAT's, behind the NAT)
	host  string // its host address inside the tunnel
	net   string // its subnet inside the tunnel
}

// ioTopo is a left and a right site, directly joined or through a NAT namespace.
type ioTopo struct {
	left, right *ioSide
	nat         netns // "" without NAT
}

// newTopo builds the direct topology, or the NAT one.
func newTopo(t *testing.T, natted bool) *ioTopo {
	t.Helper()
	if !natted {
		p := newPair(t, false, 0)
		for _, ns := range []netns{p.a, p.b} {
			ns.mustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
		}
		return &ioTopo{
			left:  &ioSide{name: "left", ns: p.a, outer: outerA4, seen: outerA4, host: hostA4, net: netA4},
			right: &ioSide{name: "right", ns: p.b, outer: outerB4, seen: outerB4, host: hostB4, net: netB4},
		}
	}
	needTools(t, "iptables")
	id := randomID(t, 3)
	l, n, r := newNetns(t, id, "l"), newNetns(t, id, "nat"), newNetns(t, id, "r")
	mustRun(t, "ip", "-n", string(l), "link", "add", "veth0", "type", "veth", "peer", "name", "veth-l", "netns", string(n))
	mustRun(t, "ip", "-n", string(n), "link", "add", "veth-r", "type", "veth", "peer", "name", "veth0", "netns", string(r))
	for _, c := range []struct {
		ns        netns
		dev, cidr string
	}{{l, "veth0", natLeft4 + "/24"}, {n, "veth-l", natInside4 + "/24"}, {n, "veth-r", natOutside4 + "/24"}, {r, "veth0", outerB4 + "/24"}} {
		mustRun(t, "ip", "-n", string(c.ns), "addr", "add", c.cidr, "dev", c.dev)
		mustRun(t, "ip", "-n", string(c.ns), "link", "set", c.dev, "up")
	}
	for _, ns := range []netns{l, n, r} {
		ns.mustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	l.mustRun(t, "ip", "route", "add", "default", "via", natInside4)
	n.mustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	n.mustRun(t, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "veth-r", "-j", "MASQUERADE")
	return &ioTopo{
		left:  &ioSide{name: "left", ns: l, outer: natLeft4, seen: natOutside4, host: hostA4, net: netA4},
		right: &ioSide{name: "right", ns: r, outer: outerB4, seen: outerB4, host: hostB4, net: netB4},
		nat:   n,
	}
}

// other returns the site that is not s.
func (tp *ioTopo) other(s *ioSide) *ioSide {
	if s == tp.left {
		return tp.right
	}
	return tp.left
}

// needCharon skips the test unless strongSwan's charon with kernel-libipsec is installed.
func needCharon(t *testing.T) {
	t.Helper()
	if err := lab.HaveCharon(); err != nil {
		t.Skipf("skipping: %v (.ci/run installs strongswan-charon, strongswan-swanctl, libcharon-extra-plugins, libstrongswan-standard-plugins)", err)
	}
}

// needInterop is needNetns plus charon.
func needInterop(t *testing.T) {
	t.Helper()
	needNetns(t)
	needCharon(t)
}

// newPSK returns a fresh random pre-shared key that both strongSwan and oakley read as the
// string itself (no "0x" or "0s" prefix).
func newPSK(t *testing.T) string { return "psk-" + randomID(t, 32) }

// IDs the sites use (ID_FQDN).
const (
	leftID  = "left.example"
	rightID = "right.example"
)

// --- traffic ---

// pingBoth pings n times from each site's inner host to the other's and fails the test
// unless every echo is answered.
func pingBoth(t *testing.T, tp *ioTopo, n int) {
	t.Helper()
	mustPing(t, tp.left.ns, tp.left.host, tp.right.host, n)
	mustPing(t, tp.right.ns, tp.right.host, tp.left.host, n)
}

// pingNone checks that no echo crosses from a to b.
func pingNone(t *testing.T, a, b *ioSide, n int) {
	t.Helper()
	if out, got, _ := ping(a.ns, a.host, b.host, n); got != 0 {
		t.Errorf("%d of %d echoes crossed %s -> %s although no SA should carry them:\n%s", got, n, a.host, b.host, out)
	}
}

// pinger pings from a site's inner host every 10 ms (ping -D prints each reply's wall-clock
// time), to time how long a tunnel takes to carry its first packet: start it before the
// event being timed, then ask for the first reply.
type pinger struct{ p *proc }

func startPinger(t *testing.T, side *ioSide, dst string, secs int) *pinger {
	t.Helper()
	return &pinger{p: startProc(t, "ping", side.ns.args("ping", "-D", "-n", "-i", "0.01", "-W", "1", "-w", strconv.Itoa(secs), "-I", side.host, dst)...)}
}

var pingStamp = regexp.MustCompile(`\[(\d+)\.(\d+)\] \d+ bytes from`)

// first waits until a reply arrived and returns its time.
func (pg *pinger) first(t *testing.T, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := pingStamp.FindStringSubmatch(pg.p.out.String()); m != nil {
			sec, _ := strconv.ParseInt(m[1], 10, 64)
			frac := (m[2] + "000000000")[:9]
			ns, _ := strconv.ParseInt(frac, 10, 64)
			pg.p.stop(time.Second)
			return time.Unix(sec, ns)
		}
		if time.Now().After(deadline) || pg.p.exited() {
			pg.p.stop(time.Second)
			t.Fatalf("no ping reply within %s:\n%s", timeout, tail(pg.p.out.String(), 2000))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// continuousPing pings every interval for d and returns (sent, received, output).
func continuousPing(side *ioSide, dst string, interval, d time.Duration) (int, int, string) {
	n := int(d / interval)
	out, _ := runTimeout(d+30*time.Second, "ip", "netns", "exec", string(side.ns), "ping", "-n", "-c", strconv.Itoa(n),
		"-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "2", "-I", side.host, dst)
	got := 0
	if m := pingSummary.FindStringSubmatch(out); m != nil {
		got, _ = strconv.Atoi(m[2])
	}
	return n, got, out
}

// --- small helpers ---

// parallelRuns runs each fn as a subtest, at most limit at a time, concurrently with each
// other but not marked t.Parallel (t.Run may be called from several goroutines): the
// interop cases mostly wait on the network, so they overlap well beyond GOMAXPROCS.
func parallelRuns(t *testing.T, limit int, names []string, fn func(t *testing.T, i int)) {
	t.Helper()
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.Run(name, func(t *testing.T) {
				skipKnownFailure(t)
				fn(t, i)
			})
		}()
	}
	wg.Wait()
}

// knownFailures are reliability cases that fail today for a known, documented reason (README,
// Reliability: what is still not covered). `make test` skips them, saying why, so that the
// suite stays a gate; `make chaos`, `make loadtest` and OAKLEY_KNOWN_FAILURES=1 run them, so
// they stay measured until they are fixed (then their line goes).
var knownFailures = map[string]string{
	// Empty since 2026-12-05: the IKEv1 child collision against strongSwan under IKE loss
	// (a lost Delete left charon the replaced pair) went when Deletes got repeated.
}

// skipKnownFailure skips t if it is a known failure, unless OAKLEY_KNOWN_FAILURES=1.
func skipKnownFailure(t *testing.T) {
	if why, ok := knownFailures[t.Name()]; ok && os.Getenv("OAKLEY_KNOWN_FAILURES") != "1" {
		t.Skipf("known failure (OAKLEY_KNOWN_FAILURES=1 runs it): %s", why)
	}
}

// spiSet returns the SPIs of the SAs (lower-case hex without 0x).
func spiSet(sas []ioSA) map[string]bool {
	m := map[string]bool{}
	for _, sa := range sas {
		m[sa.spi()] = true
	}
	return m
}

//go:build linux

package e2e

// Figures for issue 9's closing note, not assertions: the time of Main Mode + Quick Mode with
// RSA-3072 certificates (root, intermediate, end entity) when oakley initiates to strongSwan,
// beside strongSwan initiating to strongSwan, measured the same way: from the initiate
// command (`oakley initiate`, `swanctl --initiate`) to the first reply of a ping that runs
// every 10 ms from the initiator's inner host. Each is run a few times on fresh namespaces,
// alternating, and the medians are recorded (E2E_RESULTS).

import (
	"sort"
	"testing"
	"time"
)

func medianOf(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func TestInteropCertTiming(t *testing.T) {
	needInterop(t)
	t.Parallel()
	const runs = 3
	const kind = "rsa3072"
	p := sharedPKI(t, kind, "")
	var oak, swan []time.Duration
	for i := 0; i < runs; i++ {
		// oakley (left) initiates to charon (right).
		tp := newTopo(t, false)
		f := newCertFixture(t, tp, certSwanCase{kind: kind})
		sp := startCertPair(t, tp, f)
		toPing, _ := sp.establish(t, true)
		oak = append(oak, toPing)

		// charon (left) initiates to charon (right), the same certificates and proposals.
		tp2 := newTopo(t, false)
		lconf, rconf := swanFor(tp2, tp2.left, ""), swanFor(tp2, tp2.right, "")
		for _, c := range []*swanConf{&lconf, &rconf} {
			c.Proposals, c.Children[0].ESP = proposalFor(kind), "aes128gcm16"
		}
		p.swanCertsAs(t, &lconf, f.eeL, "left")
		p.swanCertsAs(t, &rconf, f.eeR, "right")
		startSwan(t, tp2.right, "charon-right", rconf)
		left := startSwan(t, tp2.left, "charon-left", lconf)
		pg := startPinger(t, tp2.left, tp2.right.host, 30)
		t0 := time.Now()
		left.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
		swan = append(swan, pg.first(t, 20*time.Second).Sub(t0))
	}
	recordResult(t, "Main Mode + Quick Mode with RSA-3072 certificates, initiate to first ping, median of %d: oakley -> strongSwan %s %v; strongSwan -> strongSwan %s %v",
		runs, medianOf(oak).Round(time.Millisecond), roundAll(oak), medianOf(swan).Round(time.Millisecond), roundAll(swan))
}

func roundAll(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i := range d {
		out[i] = d[i].Round(time.Millisecond)
	}
	return out
}

//go:build linux

package e2e

// How long IKE_SA_INIT + IKE_AUTH (with the first child) takes, measured as the time from the
// initiating command to the first echo reply through the new tunnel (a ping every 10 ms from
// the initiating site): oakley initiating to charon, charon initiating to oakley, and charon
// to charon in the same topology, five times each, medians reported (E2E_RESULTS records
// them). IKE aes128gcm16-prfsha256-ecp256, ESP aes128gcm16, PSK.

import (
	"sort"
	"testing"
	"time"
)

func TestInteropV2Timing(t *testing.T) {
	needInterop(t)
	t.Parallel()
	const runs = 5
	c := v2Case{ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"}
	median := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	var oi, or, ss []time.Duration
	for i := 0; i < runs; i++ {
		for _, ini := range []bool{true, false} {
			tp := newTopo(t, false)
			sp := startV2Pair(t, tp, c, ini, nil)
			d, _ := sp.establish(t, ini)
			if ini {
				oi = append(oi, d)
			} else {
				or = append(or, d)
			}
		}
		// charon to charon: left initiates, the ping runs from left's host (on lo).
		tp := newTopo(t, false)
		psk := newPSK(t)
		l, r := swanFor(tp, tp.left, psk), swanFor(tp, tp.right, psk)
		for _, w := range []*swanConf{&l, &r} {
			w.Version, w.Proposals, w.Children[0].ESP = 2, c.ike, c.esp
		}
		startSwan(t, tp.right, "charon-right", r)
		left := startSwan(t, tp.left, "charon-left", l)
		pg := startPinger(t, tp.left, tp.right.host, 30)
		t0 := time.Now()
		left.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
		ss = append(ss, pg.first(t, 20*time.Second).Sub(t0))
	}
	recordResult(t, "IKEv2 IKE_SA_INIT + IKE_AUTH to the first ping reply (median of %d; %s, ESP %s, PSK): oakley -> strongSwan %s, strongSwan -> oakley %s, strongSwan -> strongSwan %s",
		runs, c.ike, c.esp, median(oi).Round(time.Millisecond), median(or).Round(time.Millisecond), median(ss).Round(time.Millisecond))
	t.Logf("all runs: oakley -> charon %v; charon -> oakley %v; charon -> charon %v", oi, or, ss)
}

//go:build linux

package e2e

// TestReliability is issue 13's suite: the chaos cases, the soak and the load test, side by
// side in one top-level test. It is deliberately not t.Parallel: it loads the machine
// (floods of pings, iperf3, dozens of namespaces) and the rest of the suite asserts lossless
// pings, so it runs while the parallel tests wait, and the time it adds to `make test` is its
// own duration (about 3-4 minutes, bounded by the soak). Each part is a subtest; select parts with
// -run 'TestReliability/chaos-ike' and so on. `make test` runs every part in its bounded
// form (a few tries, 3 collision rounds, a 120 s soak, 100 peers, 200 remote-access clients); `make chaos`, `make soak
// DURATION=30m` and `make loadtest N=1000` run the full forms.
//
//	chaos-relay       the impairment relay itself (e2e_chaos_relay_test.go)
//	chaos-ike         IKE under loss, reordering, duplication, delay (e2e_chaos_ike_test.go)
//	chaos-esp         the ESP anti-replay window against a reference (e2e_chaos_esp_test.go)
//	chaos-deadpeer    kill -9 and restart, detection and recovery (e2e_chaos_deadpeer_test.go)
//	chaos-nat         NAT rebinding mid-stream (e2e_chaos_nat_test.go)
//	chaos-collisions  simultaneous re-authentication and rekey (e2e_chaos_collide_test.go)
//	soak              rekeys under traffic, resources sampled (e2e_soak_test.go)
//	load              many peers against one responder (e2e_load_test.go)
//	load-ra           200 remote-access clients at once against one gateway (e2e_load_ra_test.go)
//
// The figures are FIGURE lines in the log (e2e_chaos_figures_test.go).

import "testing"

func TestReliability(t *testing.T) {
	needNetns(t)
	parts := []struct {
		name string
		run  func(*testing.T)
	}{
		{"chaos-relay", chaosRelay},
		{"chaos-ike", chaosIKE},
		{"chaos-esp", chaosESP},
		{"chaos-deadpeer", chaosDeadPeer},
		{"chaos-nat", chaosNATRebinding},
		{"chaos-collisions", chaosCollisions},
		{"soak", soak},
		{"load", loadTest},
		{"load-ra", loadRA},
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	parallelRuns(t, len(parts), names, func(t *testing.T, i int) { parts[i].run(t) })
}

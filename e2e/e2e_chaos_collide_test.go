//go:build linux

package e2e

// Simultaneous re-authentication and simultaneous child rekey from both ends (issue 13):
// the same rekey command reaches both ends at the same instant (`oakley rekey` on each, or
// `swanctl --rekey` on a strongSwan peer), while left pings right every 20 ms; repeated
// CHAOS_COLLISIONS times (default 3; `make chaos`: 100) on one tunnel; the cases run
// CHAOS_COLLISIONS_PARALLEL (default 4) at a time. After each round both
// ends must settle on exactly one IKE SA and one child SA pair, the same pair on both ends,
// steady for 4 s, with no echo lost, and the SAs must really have changed (else the round
// tested nothing). Figure: rounds that ended with exactly one of each, echoes lost, the
// most IKE SAs and pairs an end held during a round. CHAOS_DUMP_DIR=DIR writes both ends'
// whole logs at every failing round there; CHAOS_LOG_LEVEL (default info) sets oakley's.
// The loss cases' relay seeds are fixed by name as chaos-ike's are (chaosSeed; CHAOS_SEED
// =random draws new ones, as `make chaos` does): only IKE datagrams draw from the relay's
// generator, so the k-th IKE datagram after the loss starts meets the same fate every run,
// though which datagram is k-th can change with the two ends' timing.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// collideCase is one kind of simultaneous rekey against one kind of peer.
type collideCase struct {
	version int
	peer    string // "oakley" or "strongswan" on the right
	kind    string // "reauth" (IKEv1: a new ISAKMP SA), "ike" (IKEv2: CREATE_CHILD_SA rekeying the IKE SA) or "child"
	// ikeLoss > 0 runs the case through the impairment relay, which drops that share of
	// the IKE datagrams (both directions) once the tunnel is up; ESP passes untouched, so
	// every echo must still come back.
	ikeLoss float64
}

var collideCases = []collideCase{
	{version: 1, peer: "oakley", kind: "reauth"},
	{version: 1, peer: "oakley", kind: "child"},
	{version: 1, peer: "strongswan", kind: "reauth"},
	{version: 1, peer: "strongswan", kind: "child"},
	{version: 2, peer: "oakley", kind: "ike"},
	{version: 2, peer: "oakley", kind: "child"},
	{version: 2, peer: "strongswan", kind: "ike"},
	{version: 2, peer: "strongswan", kind: "child"},
	// Under loss an end may see the peer's Quick Mode (or CREATE_CHILD_SA) only after its
	// own completed, or lose the Delete of the redundant pair: the collision must still
	// end with one pair, and no echo lost.
	{version: 1, peer: "oakley", kind: "child", ikeLoss: 0.2},
	{version: 1, peer: "strongswan", kind: "child", ikeLoss: 0.2},
	{version: 2, peer: "oakley", kind: "child", ikeLoss: 0.2},
	{version: 2, peer: "strongswan", kind: "child", ikeLoss: 0.2},
}

// name is the subtest's name.
func (c collideCase) name() string {
	n := fmt.Sprintf("v%d-%s-simultaneous-%s", c.version, c.peer, c.kind)
	if c.ikeLoss > 0 {
		n += fmt.Sprintf("-ike-loss-%.0f", c.ikeLoss*100)
	}
	return n
}

// chaosCollisions runs every collideCase.
func chaosCollisions(t *testing.T) {
	names := make([]string, len(collideCases))
	for i, c := range collideCases {
		names[i] = c.name()
	}
	parallelRuns(t, envInt(t, "CHAOS_COLLISIONS_PARALLEL", 4), names, func(t *testing.T, i int) {
		c := collideCases[i]
		if c.peer == "strongswan" {
			needCharon(t)
		}
		runCollisions(t, c)
	})
}

// endState is what one end holds: established IKE SAs (by cookies) and installed child SA
// SPIs.
type endState struct {
	ikes  []string
	spis  map[string]bool
	pairs int
}

func oakleyState(t *testing.T, o *oakley) endState {
	t.Helper()
	s := o.mustIKEStatus(t)
	st := endState{spis: spiSet(s.allSAs()), pairs: len(s.allSAs()) / 2}
	for _, c := range s.Connections {
		for _, sa := range c.IKESAs {
			if sa.State == "established" {
				st.ikes = append(st.ikes, strings.ToLower(sa.Cookies))
			}
		}
	}
	return st
}

func swanState(t *testing.T, sw *swan) endState {
	t.Helper()
	st := endState{spis: map[string]bool{}}
	for _, sa := range sw.listSAs(t) {
		if sa.Fields["state"] == "ESTABLISHED" {
			st.ikes = append(st.ikes, strings.ToLower(sa.Fields["initiator-spi"]+":"+sa.Fields["responder-spi"]))
		}
		for _, ch := range sa.Children {
			if ch["state"] == "INSTALLED" {
				st.pairs++
				st.spis[strings.ToLower(ch["spi-in"])] = true
				st.spis[strings.ToLower(ch["spi-out"])] = true
			}
		}
	}
	return st
}

func runCollisions(t *testing.T, c collideCase) {
	rounds := envInt(t, "CHAOS_COLLISIONS", 3)
	var tp *ioTopo
	var rl *relay
	if c.ikeLoss > 0 {
		rt := newRelayTopo(t, chaosSeed(t, "chaos-collisions/"+c.name(), c.ikeLoss))
		tp, rl = rt.ioTopo, rt.relay
		t.Logf("relay seed %d (CHAOS_SEED=%d with -run on this case replays its losses)", rl.seed, rl.seed)
	} else {
		tp = newTopo(t, false)
	}
	psk := newPSK(t)
	ls, rs := siteFor(tp, tp.left, psk), siteFor(tp, tp.right, psk)
	ls.Version, rs.Version = c.version, c.version
	ls.LogLevel, rs.LogLevel = "info", "info"
	if lvl := os.Getenv("CHAOS_LOG_LEVEL"); lvl != "" {
		ls.LogLevel, rs.LogLevel = lvl, lvl
	}
	var right *oakley
	var sw *swan
	if c.peer == "oakley" {
		right = startIKE(t, tp.right, "right", rs)
	} else {
		conf := swanFor(tp, tp.right, psk)
		conf.Version = c.version
		if c.ikeLoss > 0 {
			// strongSwan's default schedule: with the lab's 3 tries, charon gave up on one
			// request in about 60 under 20% loss each way (0.36^4) and dropped the IKE SA.
			conf.RetransmitTries = 5
		}
		sw = startSwan(t, tp.right, "charon", conf)
	}
	left := startIKE(t, tp.left, "left", ls)
	left.mustCtl(t, "initiate", ls.connName()+"/net")
	rightState := func() endState {
		if right != nil {
			return oakleyState(t, right)
		}
		return swanState(t, sw)
	}
	one := func(l, r endState) bool {
		if len(l.ikes) != 1 || len(r.ikes) != 1 || l.ikes[0] != r.ikes[0] || l.pairs != 1 || r.pairs != 1 {
			return false
		}
		for spi := range l.spis {
			if !r.spis[spi] {
				return false
			}
		}
		return true
	}
	if !waitFor(20*time.Second, func() bool { return one(oakleyState(t, left), rightState()) }) {
		t.Fatalf("the tunnel did not come up with one IKE SA and one child pair on each end")
	}
	pingBoth(t, tp, 2)
	// How long a round watches the collision resolve, and how long it may take to settle:
	// under loss a lost message costs a retransmission (4 s, then 7.2 s more, ...). With 20%
	// loss each way an exchange fails four times in a row about once in 60 and then ends 89.5
	// s after it began (charon's and our schedule): the window covers that, its 3-s grace and
	// the 4 s the ends must stay settled (a round ended 2 s too early once at 60 s).
	watch, settle := 5*time.Second, 15*time.Second
	if rl != nil {
		rl.set(t, relayRule{Class: "ike", Loss: c.ikeLoss})
		watch, settle = 25*time.Second, 80*time.Second
	}

	rekey := map[string][2]func() (string, error){
		"reauth": {
			func() (string, error) { return left.ctl("rekey", ls.connName()) },
			func() (string, error) {
				if right != nil {
					return right.ctl("rekey", rs.connName())
				}
				return sw.Swanctl("--rekey", "--ike", sw.conf.connName(), "--reauth")
			},
		},
		"ike": {
			func() (string, error) { return left.ctl("rekey", ls.connName()) },
			func() (string, error) {
				if right != nil {
					return right.ctl("rekey", rs.connName())
				}
				return sw.Swanctl("--rekey", "--ike", sw.conf.connName())
			},
		},
		"child": {
			func() (string, error) { return left.ctl("rekey", ls.connName()+"/net") },
			func() (string, error) {
				if right != nil {
					return right.ctl("rekey", rs.connName()+"/net")
				}
				return sw.Swanctl("--rekey", "--child", "net")
			},
		},
	}[c.kind]

	good, lostTotal, sentTotal, maxIKE, maxPairs := 0, 0, 0, 0, 0
	var failures []string
	for round := 1; round <= rounds; round++ {
		before := oakleyState(t, left)
		var settled bool
		var l, r endState
		sent, got, out := pingDuring(t, tp.left, tp.right.host, 20*time.Millisecond, watch+3*time.Second, time.Second, func() {
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, 2)
			outs := make([]string, 2)
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					outs[i], errs[i] = rekey[i]()
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil && sw != nil && i == 1 && strings.Contains(outs[i], "no matching SAs to rekey found") {
					// oakley's rekey reached charon first and its SA was being replaced when
					// swanctl asked: no collision this round, the end state is still checked.
					t.Logf("round %d: charon had no SA to rekey at that instant (oakley's rekey was being answered)", round)
					continue
				}
				if err != nil {
					t.Errorf("round %d: rekey on %s: %v\n%s", round, []string{"left", "right"}[i], err, outs[i])
				}
			}
			// Watch the ends while the collision resolves.
			deadline := time.Now().Add(watch)
			for time.Now().Before(deadline) {
				l, r = oakleyState(t, left), rightState()
				maxIKE = max(maxIKE, len(l.ikes), len(r.ikes))
				maxPairs = max(maxPairs, l.pairs, r.pairs)
				time.Sleep(200 * time.Millisecond)
			}
		})
		settled = stableFor(settle, 4*time.Second, func() bool {
			l, r = oakleyState(t, left), rightState()
			maxIKE = max(maxIKE, len(l.ikes), len(r.ikes))
			maxPairs = max(maxPairs, l.pairs, r.pairs)
			return one(l, r)
		})
		lostTotal += sent - got
		sentTotal += sent
		changed := false
		switch c.kind {
		case "reauth", "ike":
			changed = len(l.ikes) == 1 && len(before.ikes) == 1 && l.ikes[0] != before.ikes[0]
		default:
			changed = true
			for spi := range l.spis {
				if before.spis[spi] {
					changed = false
				}
			}
		}
		if !settled && (len(l.ikes) == 0 || len(r.ikes) == 0) {
			// The tunnel is gone (both ends deleted a different survivor): bring it back so
			// the next round tests a collision again.
			if out, err := left.ctl("initiate", ls.connName()+"/net"); err != nil {
				t.Logf("round %d: re-initiating after the tunnel was lost: %v %s", round, err, out)
			}
			waitFor(20*time.Second, func() bool { return one(oakleyState(t, left), rightState()) })
		}
		if dir := os.Getenv("CHAOS_DUMP_DIR"); dir != "" && (!settled || !changed || sent != got) {
			// Both ends' whole logs at the failing round, for the cases that need them.
			base := filepath.Join(dir, fmt.Sprintf("%s-round%03d", strings.ReplaceAll(t.Name(), "/", "_"), round))
			os.WriteFile(base+"-left.log", []byte(left.p.out.String()), 0o644)
			if st, err := left.ctl("status", "--json"); err == nil {
				os.WriteFile(base+"-left-status.json", []byte(st), 0o644) // counters: send errors, drops
			}
			if sw != nil {
				os.WriteFile(base+"-charon.log", []byte(sw.Log()), 0o644)
			} else {
				os.WriteFile(base+"-right.log", []byte(right.p.out.String()), 0o644)
			}
		}
		switch {
		case !settled:
			failures = append(failures, fmt.Sprintf("round %d: left holds IKE SAs %v and %d child pairs, right %v and %d", round, l.ikes, l.pairs, r.ikes, r.pairs))
		case !changed:
			failures = append(failures, fmt.Sprintf("round %d: the %s changed nothing (IKE SAs %v → %v)", round, c.kind, before.ikes, l.ikes))
		case sent != got:
			failures = append(failures, fmt.Sprintf("round %d: %d of %d echoes lost:\n%s", round, sent-got, sent, tail(out, 800)))
		default:
			good++
		}
	}
	var ikeDropped uint64
	if rl != nil {
		ctr, _ := rl.stats(t)
		ikeDropped = total(ctr, "ike").Dropped
		if ikeDropped == 0 {
			t.Errorf("the relay dropped no IKE datagram: the loss rows tested nothing")
		}
	}
	// How often the left end took the paths the loss rows made: a held outbound switch
	// (IKEv1, our last Quick Mode message lost), a held rekey (IKEv2, our answer lost), and a
	// collision seen only when the peer's rekey arrived after ours completed.
	lc := left.mustIKEStatus(t).IKECounters
	figure(t, "chaos-collisions", kv{"version", c.version}, kv{"peer", c.peer}, kv{"kind", "simultaneous-" + c.kind},
		kv{"ike_loss", c.ikeLoss}, kv{"ike_dropped", ikeDropped}, kv{"rounds", rounds}, kv{"exactly_one", good}, kv{"pings_lost", lostTotal}, kv{"pings_sent", sentTotal},
		kv{"max_ike_sas", maxIKE}, kv{"max_child_pairs", maxPairs}, kv{"switches_held", lc["switches_held"]}, kv{"rekeys_deferred", lc["rekeys_deferred"]},
		kv{"collisions", lc["rekey_collisions"]}, kv{"collisions_late", lc["rekey_collisions_late"]},
		kv{"deletes_out", lc["deletes_out"]}, kv{"deletes_repeated", lc["deletes_repeated"]})
	if len(failures) > 0 {
		if len(failures) > 5 {
			failures = append(failures[:5], fmt.Sprintf("... and %d more", len(failures)-5))
		}
		t.Errorf("%d of %d rounds did not end with exactly one IKE SA and one child pair on each end and no echo lost:\n%s",
			rounds-good, rounds, strings.Join(failures, "\n"))
	}
}

package ike

// Connections and children: which ISAKMP SAs and child SAs a configured connection has,
// bringing them up (start_action, acquire, Initiate), re-authentication, and what happens
// when an SA goes away. Owned by the Run goroutine.

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

// connState is the run-time state of one Connection.
type connState struct {
	c          *core
	cfg        *Connection
	props      []*crypto.Proposal
	children   []*childState
	ikes       []*ikeSA // ISAKMP SAs of this connection, oldest first
	persistent bool     // start_action = start (or Initiate): re-initiate after failures
	retry      *timer
	retryDelay time.Duration
	waiters    []*waiter
}

// childState is the run-time state of one Child.
type childState struct {
	cs      *connState
	cfg     *Child
	proto   isakmp.ProtocolID
	props   []*crypto.Proposal
	sas     []*childSA // installed SA pairs, oldest first
	qm      *quickMode // the Quick Mode we initiated, in flight
	want    bool       // should be up
	hold    bool       // dpd_action = hold: an acquire brings it back
	qmDelay *timer
}

func newConnState(c *core, conn *Connection) *connState {
	cs := &connState{c: c, cfg: conn, props: conn.Proposals}
	if len(cs.props) == 0 {
		cs.props = defaultIKE
	}
	cs.retry = newTimer("retry", cs.retryDue)
	for _, ch := range conn.Children {
		st := &childState{cs: cs, cfg: ch}
		st.proto, st.props = ch.p2Protocol()
		st.qmDelay = newTimer("qm-delay", st.delayedQM)
		cs.children = append(cs.children, st)
	}
	return cs
}

func (cs *connState) log() *zap.Logger { return cs.c.log.With(zap.String("conn", cs.cfg.Name)) }

func (cs *connState) child(name string) *childState {
	for _, ch := range cs.children {
		if ch.cfg.Name == name {
			return ch
		}
	}
	return nil
}

// current returns the newest established ISAKMP SA.
func (cs *connState) current() *ikeSA {
	for i := len(cs.ikes) - 1; i >= 0; i-- {
		if cs.ikes[i].established() {
			return cs.ikes[i]
		}
	}
	return nil
}

// currentExcept returns the newest established ISAKMP SA other than sa.
func (cs *connState) currentExcept(sa *ikeSA) *ikeSA {
	for i := len(cs.ikes) - 1; i >= 0; i-- {
		if s := cs.ikes[i]; s != sa && s.established() {
			return s
		}
	}
	return nil
}

// connecting returns an ISAKMP SA we are initiating.
func (cs *connState) connecting() *ikeSA {
	for _, sa := range cs.ikes {
		if sa.initiator && !sa.established() && sa.state != p1Dead {
			return sa
		}
	}
	return nil
}

// hasEstablishedPeer reports whether another established SA talks to this peer (then we
// send no INITIAL-CONTACT, RFC 2407 §4.6.3.3).
func (cs *connState) hasEstablishedPeer(except *ikeSA) bool {
	for _, sa := range cs.ikes {
		if sa != except && sa.established() {
			return true
		}
	}
	return false
}

// responderCandidates returns the connections that may answer a first message from a
// peer: those whose remote address is the peer's come first, then %any ones. Aggressive
// Mode also needs aggressive = true, the insecure opt-in and, when known, the identity.
func (c *core) responderCandidates(from netip.AddrPort, aggressive bool, id *isakmp.Identification) []*connState {
	var exact, wild []*connState
	for _, cs := range c.conns {
		if aggressive && !(cs.cfg.Aggressive && cs.cfg.InsecureAlgorithms) {
			continue
		}
		if id != nil && !cs.cfg.RemoteID.matches(id) {
			continue
		}
		switch {
		case !cs.cfg.RemoteAddr.IsValid():
			wild = append(wild, cs)
		case cs.cfg.RemoteAddr.Unmap() == from.Addr().Unmap():
			exact = append(exact, cs)
		}
	}
	return append(exact, wild...)
}

// bringUp wants children up and starts what is missing: Phase 1, then Quick Modes.
func (cs *connState) bringUp(now time.Time, children []*childState) {
	for _, ch := range children {
		ch.want = true
	}
	if sa := cs.current(); sa != nil {
		for _, ch := range children {
			if ch.newest() == nil && ch.qm == nil {
				ch.startQM(now, sa, nil)
			}
		}
		cs.resolvePhase1Waiters(nil)
		return
	}
	if cs.connecting() == nil {
		cs.startPhase1(now, nil)
	}
}

// startPhase1 begins Main or Aggressive Mode as initiator.
func (cs *connState) startPhase1(now time.Time, replaces *ikeSA) *ikeSA {
	if !cs.cfg.RemoteAddr.IsValid() {
		return nil
	}
	sa := newInitiatorSA(cs.c, cs, now)
	sa.replaces = replaces
	cs.ikes = append(cs.ikes, sa)
	var err error
	if cs.cfg.Aggressive {
		err = sa.startAggressive(now)
	} else {
		err = sa.startMainMode(now)
	}
	if err != nil {
		cs.log().Warn("cannot start Phase 1", zap.Error(err))
		sa.destroy(now, false, err)
		return nil
	}
	return sa
}

// reauth replaces an established ISAKMP SA by a new Main/Aggressive Mode; the children
// move to the new SA when it is up, and the old one is deleted.
func (cs *connState) reauth(now time.Time, old *ikeSA) {
	if s := cs.connecting(); s != nil {
		s.replaces = old
		return
	}
	if cs.startPhase1(now, old) == nil {
		// Try again later while the old SA lives.
		cs.c.timers.arm(old.reauthTimer, now.Add(30*time.Second))
	}
}

// ikeEstablished runs when any ISAKMP SA of the connection completes.
func (cs *connState) ikeEstablished(now time.Time, sa *ikeSA) {
	found := false
	for _, s := range cs.ikes {
		found = found || s == sa
	}
	if !found {
		cs.ikes = append(cs.ikes, sa)
	}
	cs.retryDelay = 0
	cs.c.timers.stop(cs.retry)
	// Children move to the newest ISAKMP SA (re-authentication, or the peer's new SA).
	for _, ch := range cs.children {
		for _, csa := range ch.sas {
			if csa.ike != sa && (csa.ike == nil || !csa.ike.established() || csa.ike.estab.Before(sa.estab) || csa.ike == sa.replaces) {
				csa.ike = sa
			}
		}
	}
	if old := sa.replaces; old != nil && old.state == p1Established {
		sa.replaces = nil
		old.log.Info("deleting re-authenticated ISAKMP SA")
		cs.c.timers.stop(old.reauthTimer)
		old.deleteLater(now, rekeyGrace)
	}
	cs.resolvePhase1Waiters(nil)
	for _, ch := range cs.children {
		if !ch.want || ch.qm != nil {
			continue
		}
		if n := ch.newest(); n != nil {
			if n.rekeyDue {
				ch.startQM(now, sa, n)
			}
			continue
		}
		if sa.initiator {
			ch.startQM(now, sa, nil)
		} else {
			// The peer initiated Phase 1 and will most likely start its Quick Modes; give
			// it a moment before starting ours, so both sides do not make duplicates.
			cs.c.timers.arm(ch.qmDelay, now.Add(2*time.Second))
		}
	}
}

// ikeGone runs when an ISAKMP SA of the connection dies.
func (cs *connState) ikeGone(now time.Time, sa *ikeSA, wasEstablished bool, reason error) {
	for i, s := range cs.ikes {
		if s == sa {
			cs.ikes = append(cs.ikes[:i], cs.ikes[i+1:]...)
			break
		}
	}
	next := cs.current()
	for _, ch := range cs.children {
		for _, csa := range append([]*childSA(nil), ch.sas...) {
			if csa.ike != sa {
				continue
			}
			if next != nil {
				csa.ike = next
				continue
			}
			// RFC 2409 leaves IPsec SAs independent of their ISAKMP SA, but without one
			// they cannot be rekeyed or deleted properly; like strongSwan we remove them.
			csa.remove(now, false, reason)
		}
	}
	if !wasEstablished {
		if sa.initiator {
			cs.failWaiters(reason)
		}
		if cs.persistent && cs.current() == nil && cs.connecting() == nil {
			cs.scheduleRetry(now)
		}
		return
	}
	if errors.Is(reason, errExpired) && cs.persistent && next == nil {
		cs.bringUp(now, cs.wanted())
	}
}

var errExpired = fmt.Errorf("%w: lifetime expired", ErrDeleted)

func (cs *connState) wanted() []*childState {
	var out []*childState
	for _, ch := range cs.children {
		if ch.want {
			out = append(out, ch)
		}
	}
	return out
}

// scheduleRetry re-initiates a persistent connection after a failure: 30 s, doubling, at
// most 10 minutes apart.
func (cs *connState) scheduleRetry(now time.Time) {
	switch {
	case cs.retryDelay == 0:
		cs.retryDelay = 30 * time.Second
	case cs.retryDelay < 10*time.Minute:
		cs.retryDelay = min(2*cs.retryDelay, 10*time.Minute)
	}
	cs.c.timers.arm(cs.retry, now.Add(cs.retryDelay))
}

func (cs *connState) retryDue(now time.Time) {
	if cs.persistent && cs.current() == nil && cs.connecting() == nil {
		cs.log().Info("re-initiating")
		cs.bringUp(now, cs.wanted())
	}
}

// terminate deletes every SA of the connection, telling the peer.
func (cs *connState) terminate(now time.Time, reason error) {
	cs.persistent = false
	cs.c.timers.stop(cs.retry)
	for _, ch := range cs.children {
		ch.want, ch.hold = false, false
		cs.c.timers.stop(ch.qmDelay)
		if ch.qm != nil {
			ch.qm.abort(now, reason)
		}
		for _, csa := range append([]*childSA(nil), ch.sas...) {
			csa.remove(now, true, reason)
		}
	}
	for _, sa := range append([]*ikeSA(nil), cs.ikes...) {
		sa.destroy(now, true, reason)
	}
	cs.failWaiters(reason)
}

// newest returns the child's newest installed SA that is not superseded.
func (ch *childState) newest() *childSA {
	for i := len(ch.sas) - 1; i >= 0; i-- {
		if ch.sas[i].state == childInstalled {
			return ch.sas[i]
		}
	}
	return nil
}

func (ch *childState) delayedQM(now time.Time) {
	if !ch.want || ch.newest() != nil || ch.qm != nil {
		return
	}
	if sa := ch.cs.current(); sa != nil {
		ch.startQM(now, sa, nil)
	}
}

// waiter is an Initiate call waiting for its children (or its Phase 1).
type waiter struct {
	pending  map[*childState]bool
	done     chan error
	finished bool
}

func (w *waiter) finish(err error) {
	if !w.finished {
		w.finished = true
		w.done <- err
	}
}

func (cs *connState) addWaiter(children []*childState) *waiter {
	w := &waiter{pending: map[*childState]bool{}, done: make(chan error, 1)}
	for _, ch := range children {
		w.pending[ch] = true
	}
	cs.waiters = append(cs.waiters, w)
	return w
}

func (cs *connState) childUp(ch *childState) {
	cs.pruneWaiters(func(w *waiter) {
		delete(w.pending, ch)
		if len(w.pending) == 0 {
			w.finish(nil)
		}
	})
}

func (cs *connState) childFailed(ch *childState, err error) {
	cs.pruneWaiters(func(w *waiter) {
		if w.pending[ch] {
			w.finish(err)
		}
	})
}

func (cs *connState) failWaiters(err error) {
	cs.pruneWaiters(func(w *waiter) { w.finish(err) })
}

func (cs *connState) resolvePhase1Waiters(err error) {
	cs.pruneWaiters(func(w *waiter) {
		if len(w.pending) == 0 {
			w.finish(err)
		}
	})
}

func (cs *connState) pruneWaiters(f func(*waiter)) {
	keep := cs.waiters[:0]
	for _, w := range cs.waiters {
		f(w)
		if !w.finished {
			keep = append(keep, w)
		}
	}
	cs.waiters = keep
}

// modeFor returns the esp mode of a child.
func (ch *childState) mode() esp.Mode { return ch.cfg.mode() }

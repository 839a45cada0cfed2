package core

// Connections: which IKE SAs and child SAs a configured connection has, bringing them up
// (start_action, acquire, Initiate), re-authentication and rekeying, retries after
// failures, and what happens when an IKE SA goes away. Owned by the core's goroutine.

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
)

// Conn is the run-time state of one Connection.
type Conn struct {
	c          *Core
	Cfg        *Connection
	Proto      Protocol
	Children   []*ChildState
	ikes       []IKESA // IKE SAs of this connection, oldest first
	persistent bool    // start_action = start (or Initiate): re-initiate after failures
	retry      *Timer
	retryDelay time.Duration
	retryAt    time.Time
	waiters    []*waiter
	lastError  error
	lastErrAt  time.Time
}

func newConn(c *Core, cfg *Connection, p Protocol) *Conn {
	cs := &Conn{c: c, Cfg: cfg, Proto: p}
	cs.retry = NewTimer("retry", cs.retryDue)
	for _, ch := range cfg.Children {
		cs.Children = append(cs.Children, newChildStates(cs, ch, p.SplitsSelectors())...)
	}
	return cs
}

// newChildStates makes a child's negotiable units and their SPD entries: one for the whole
// child, or, for a protocol that negotiates one selector pair at a time (IKEv1 Quick Mode),
// one per pair of a local and a remote selector of the same family.
func newChildStates(cs *Conn, ch *Child, split bool) []*ChildState {
	proto, props := esp.ESP, ch.ESPProposals
	if len(ch.AHProposals) > 0 {
		proto, props = esp.AH, ch.AHProposals
	} else if len(props) == 0 {
		props = defaultESP
	}
	mk := func(pair int, local, remote []esp.Selector) *ChildState {
		st := &ChildState{Conn: cs, Cfg: ch, Pair: pair, LocalTS: local, RemoteTS: remote, Proto: proto, Props: props}
		polLocal := local
		if len(local) == 0 && len(cs.Cfg.VIPs) > 0 {
			// A remote-access client: its side of the child is the virtual IP the gateway
			// assigns (strongSwan's local_ts = dynamic); the SPD entry takes any source of
			// the requested families, the negotiated SA checks the exact address.
			for _, v := range cs.Cfg.VIPs {
				polLocal = append(polLocal, esp.SelectorFor(netip.PrefixFrom(v.Unmap(), 0).Masked()))
			}
		}
		st.Policy = &esp.Policy{Name: cs.Cfg.Name + "/" + st.Name(), Local: polLocal, Remote: remote, Action: esp.Protect}
		st.delay = NewTimer("child-delay", st.delayed)
		return st
	}
	if !split || len(ch.LocalTS) <= 1 && len(ch.RemoteTS) <= 1 {
		return []*ChildState{mk(0, ch.LocalTS, ch.RemoteTS)}
	}
	var out []*ChildState
	for _, l := range ch.LocalTS {
		for _, r := range ch.RemoteTS {
			if l.Prefix.Addr().Is4() != r.Prefix.Addr().Is4() {
				continue // an IPv4 selector never pairs with an IPv6 one
			}
			out = append(out, mk(len(out)+1, []esp.Selector{l}, []esp.Selector{r}))
		}
	}
	return out
}

// Log returns a logger with the connection's name.
func (cs *Conn) Log() *zap.Logger { return cs.c.Log.With(zap.String("conn", cs.Cfg.Name)) }

// Core returns the core the connection belongs to.
func (cs *Conn) Core() *Core { return cs.c }

// Child returns the unit named name ("net" or "net.2"), or nil.
func (cs *Conn) Child(name string) *ChildState {
	for _, ch := range cs.Children {
		if ch.Name() == name {
			return ch
		}
	}
	return nil
}

// ChildUnits returns the units of a configured child (one, or one per IKEv1 selector pair).
func (cs *Conn) ChildUnits(cfgName string) []*ChildState {
	var out []*ChildState
	for _, ch := range cs.Children {
		if ch.Cfg.Name == cfgName {
			out = append(out, ch)
		}
	}
	return out
}

// IKEs returns the connection's IKE SAs, oldest first.
func (cs *Conn) IKEs() []IKESA { return cs.ikes }

// Current returns the newest established IKE SA.
func (cs *Conn) Current() IKESA { return cs.CurrentExcept(nil) }

// newestEstablished returns the newest established, not retiring IKE SA that keep accepts.
func (cs *Conn) newestEstablished(keep func(IKESA) bool) IKESA {
	for i := len(cs.ikes) - 1; i >= 0; i-- {
		if s := cs.ikes[i]; s.Base().Established() && !s.Base().retiring && keep(s) {
			return s
		}
	}
	return nil
}

// establishedLike returns the newest established IKE SA other than sa with sa's peer.
func (cs *Conn) establishedLike(sa IKESA) IKESA {
	return cs.newestEstablished(func(s IKESA) bool { return s != sa && samePeer(s, sa) })
}

// CurrentExcept returns the newest established IKE SA other than sa.
func (cs *Conn) CurrentExcept(sa IKESA) IKESA {
	return cs.newestEstablished(func(s IKESA) bool { return s != sa })
}

// Connecting returns an IKE SA we are initiating.
func (cs *Conn) Connecting() IKESA {
	for _, sa := range cs.ikes {
		b := sa.Base()
		if b.Initiator && !b.Established() && !b.Dead() {
			return sa
		}
	}
	return nil
}

// HasEstablishedPeer reports whether another established SA talks to this peer (then no
// INITIAL-CONTACT is sent, RFC 2407 §4.6.3.3, RFC 7296 §2.4).
func (cs *Conn) HasEstablishedPeer(except IKESA) bool { return cs.CurrentExcept(except) != nil }

// Candidates returns the connections of a version that may answer a first message from a
// peer: those whose remote address is the peer's come first, then %any ones.
func (c *Core) Candidates(version uint8, from netip.Addr) []*Conn {
	var exact, wild []*Conn
	for _, cs := range c.conns {
		if cs.Cfg.Version != version {
			continue
		}
		switch {
		case !cs.Cfg.RemoteAddr.IsValid():
			wild = append(wild, cs)
		case cs.Cfg.RemoteAddr.Unmap() == from.Unmap():
			exact = append(exact, cs)
		}
	}
	return append(exact, wild...)
}

// BringUp wants children up and starts what is missing: an IKE SA, then the children.
func (cs *Conn) BringUp(now time.Time, children []*ChildState) {
	for _, ch := range children {
		ch.Want = true
	}
	if sa := cs.Current(); sa != nil {
		for _, ch := range children {
			if ch.Newest() == nil && ch.Pending == nil {
				sa.StartChild(now, ch, nil)
			}
		}
		cs.resolveIKEWaiters(nil)
		return
	}
	if cs.Connecting() == nil {
		cs.startIKE(now, nil)
	}
}

// startIKE begins a new IKE SA as initiator (replaces: the SA it re-authenticates).
func (cs *Conn) startIKE(now time.Time, replaces IKESA) IKESA {
	if !cs.Cfg.CanInitiate() {
		return nil
	}
	sa, err := cs.Proto.Initiate(now, cs, replaces)
	if err != nil {
		cs.Log().Warn("cannot start the IKE SA", zap.Error(err))
		cs.lastError, cs.lastErrAt = err, now
		return nil
	}
	cs.AddIKE(sa)
	return sa
}

// AddIKE records an IKE SA of the connection (initiators at once, responders when bound).
func (cs *Conn) AddIKE(sa IKESA) {
	for _, s := range cs.ikes {
		if s == sa {
			return
		}
	}
	cs.ikes = append(cs.ikes, sa)
}

// Reauth replaces an established IKE SA by a new one (IKEv1 re-authentication: a new Main
// or Aggressive Mode); the children move to the new SA when it is up, and the old one is
// deleted.
func (cs *Conn) Reauth(now time.Time, old IKESA) bool {
	if s := cs.Connecting(); s != nil {
		s.Base().ReplacesSA = old
		return true
	}
	return cs.startIKE(now, old) != nil
}

// IKEEstablished runs when any IKE SA of the connection completes: children move to it,
// the SA it replaces goes, DPD starts, and the wanted children come up.
func (cs *Conn) IKEEstablished(now time.Time, sa IKESA) {
	cs.AddIKE(sa)
	cs.retryDelay = 0
	cs.lastError = nil
	cs.c.Timers.Stop(cs.retry)
	b := sa.Base()
	// IKEv1: children move to the newest IKE SA (re-authentication, or the peer's new SA).
	// An IKEv2 child belongs to the IKE SA that made it and goes with it (RFC 7296 §1.4.1):
	// a rekey moves them explicitly, uniqueids in dropDuplicates.
	for _, ch := range cs.Children {
		if cs.Cfg.Version == 2 {
			break
		}
		for _, csa := range ch.SAs {
			if csa.ike == sa {
				continue
			}
			ob := (*SABase)(nil)
			if csa.ike != nil {
				ob = csa.ike.Base()
			}
			newer := ob == nil || !ob.Established() || ob.EstablishedAt.Before(b.EstablishedAt)
			// A multi-peer connection's pairs move only to their own peer's newer SA (a
			// remote-access gateway's not even then: its clients renegotiate them).
			stay := cs.MultiPeer() && (cs.RemoteAccess() || csa.ike == nil || !samePeer(csa.ike, sa))
			if csa.ike == b.ReplacesSA || newer && !stay {
				csa.ike = sa
			}
		}
	}
	if old := b.ReplacesSA; old != nil && old.Base().Established() {
		b.ReplacesSA = nil
		ob := old.Base()
		ob.retiring, ob.replacedBy = true, sa
		b.reauth = true
		grace := RekeyGrace
		if !ob.Initiator && !cs.Decides(b) {
			// The SA we re-authenticated was the peer's, and the peer decides duplicates
			// (dropDuplicates). If the peer made it by re-authenticating just as we did, the
			// two negotiations may have crossed in the peer's view, and it may keep that SA
			// and delete ours: give its Delete time to arrive first (the old SA then stays,
			// see IKEGone), instead of deleting both survivors between us.
			grace = 2 * RekeyGrace
		}
		ob.Log.Info("deleting the replaced IKE SA", zap.Duration("in", grace))
		cs.movePending(now, old, sa)
		old.DeleteLater(now, grace)
	}
	if cs.dropDuplicates(now, sa) {
		cs.resolveIKEWaiters(nil) // sa itself lost to an established SA, which serves them
		return
	}
	cs.c.startDPD(now, sa)
	cs.resolveIKEWaiters(nil)
	for _, ch := range cs.Children {
		if !ch.Want || ch.Pending != nil {
			continue
		}
		if n := ch.Newest(); n != nil {
			if n.rekeyDue {
				sa.StartChild(now, ch, n)
			}
			continue
		}
		if b.Initiator {
			sa.StartChild(now, ch, nil)
		} else {
			// The peer initiated and will most likely start its children; give it a moment
			// before starting ours, so both sides do not make duplicates.
			cs.c.Timers.Arm(ch.delay, now.Add(2*time.Second))
		}
	}
}

// dropDuplicates keeps one IKE SA per peer identity (strongSwan's uniqueids): when sa is
// established beside another established SA of the connection with the same peer
// identity, one of them goes, with a Delete, after a grace period, and their children move
// to the survivor. Both ends must drop the same one:
//   - if one SA was started after the other was established, the newer replaces the
//     older (a re-authentication by the peer, or a peer that restarted);
//   - if their negotiations overlapped (each started before the other was established:
//     both ends initiated at once, re-authenticating, or restarting after DPD), it is a
//     collision: in IKEv1 the one established last survives (strongSwan's choice too);
//     otherwise the SA with the lower SPIs (initiator's then responder's) survives.
//
// In IKEv1 the pairs are renegotiated on the survivor when the negotiations overlapped or
// the loser is a re-authentication of ours the survivor followed closely (reauthCrossing):
// the peer may remove its pairs with the loser. A Quick Mode of ours still running on the
// loser starts again on the survivor (movePending).
//
// It reports whether sa itself is the one that goes.
func (cs *Conn) dropDuplicates(now time.Time, sa IKESA) bool {
	b := sa.Base()
	if b.PeerID.Any || b.PeerID.Type == 0 || !cs.Decides(b) {
		return false
	}
	for _, other := range cs.ikes {
		ob := other.Base()
		if other == sa || !ob.Established() || ob.retiring || !ob.PeerID.Equal(b.PeerID) ||
			ob.ReplacesSA == sa || b.ReplacesSA == other {
			continue
		}
		overlap := !b.Created.After(ob.EstablishedAt) && !ob.Created.After(b.EstablishedAt)
		loser, winner := other, sa
		v2 := cs.Cfg.Version == 2
		switch {
		case v2 && !cs.carriesChildren(sa) && cs.carriesChildren(other):
			// IKEv2: an IKE SA takes its children with it (RFC 7296 §1.4.1), so the one
			// carrying them survives a childless duplicate (both ends see the same pairs).
			// This happens when a restarted peer's SA and the survivor's dpd_action =
			// restart SA cross: only the first to finish IKE_AUTH gets the child.
			loser, winner = sa, other
		case v2 && !cs.carriesChildren(other) && cs.carriesChildren(sa):
		case overlap && !v2 && !b.EstablishedAt.Equal(ob.EstablishedAt):
			// IKEv1: the one established last survives, as strongSwan's uniqueids has it
			// (there each establishment schedules the older duplicate's deletion, 10 s later
			// in IKEv1). Only this end decides, so the rule need not look the same from the
			// other end; an oakley peer follows our Delete (and defers its own deletion of
			// an SA it replaced, see IKEEstablished).
			if b.EstablishedAt.Before(ob.EstablishedAt) {
				loser, winner = sa, other
			}
		case overlap && bytes.Compare(b.SPIKey, ob.SPIKey) > 0:
			loser, winner = sa, other
		case !overlap && b.Created.Before(ob.Created):
			loser, winner = sa, other
		}
		lb := loser.Base()
		lb.retiring, lb.duplicateOf = true, winner
		cs.c.Ctr.Inc(CtrIKEDuplicates)
		lb.Log.Info("another IKE SA with the same peer: deleting this one", zap.String("peer_id", b.PeerID.String()),
			zap.Bool("collision", overlap))
		for _, ch := range cs.Children {
			hasWinner := winner.Base().AuthChild
			for _, csa := range ch.SAs {
				hasWinner = hasWinner || csa.ike == winner && csa.state == childInstalled
			}
			for _, csa := range ch.SAs {
				if csa.ike != loser {
					continue
				}
				csa.ike = winner
				if v2 && hasWinner && csa.state == childInstalled {
					// Both IKE_AUTHs made a pair: the loser's is redundant. Both ends make
					// the same choice; it stays for packets in flight, then is deleted.
					csa.supersede()
					cs.c.Timers.Arm(csa.deleteTimer, now.Add(RekeyGrace))
				}
			}
		}
		if !v2 {
			cs.movePending(now, loser, winner)
		}
		wb := winner.Base()
		crossed := lb.Initiator && lb.reauth && wb.Created.Sub(lb.EstablishedAt) < reauthCrossing
		if !v2 && (overlap || crossed) {
			// The peer may keep the pairs on the loser and remove them with it: strongSwan
			// keeps its pairs on the ISAKMP SA of its own re-authentication (and when
			// `swanctl --rekey` finds two SAs it re-authenticates both), and moves them onto
			// an SA of ours it answers, taken for a re-authentication of the one it had,
			// even while its own re-authentication of that one is under way (which then
			// has no pairs to bring over): crossed, our re-authentication followed closely
			// by the peer's. Renegotiate them on the survivor before the loser goes. (A
			// peer's re-authentication of an SA of ours that was up for a while, or that
			// replaced nothing, brings the pairs over itself: nothing to do.)
			for _, ch := range cs.Children {
				if n := ch.Newest(); n != nil && ch.Pending == nil && n.ike == winner && n.state == childInstalled {
					n.Logger().Info("rekeying CHILD_SA: the ISAKMP SA the peer may keep it on goes")
					winner.StartChild(now, ch, n)
				}
			}
		}
		loser.DeleteLater(now, RekeyGrace)
		if loser == sa {
			return true
		}
	}
	return false
}

// reauthCrossing: a peer's ISAKMP SA started this soon after a re-authentication of ours
// was established may be a re-authentication of the SA ours replaced, crossing ours (the
// peer's first Main Mode message may be retransmitted seconds later).
const reauthCrossing = 10 * time.Second

// movePending withdraws our child negotiations still running on from, an IKEv1 ISAKMP SA
// about to be deleted (replaced or a duplicate), and starts them again on to, where the
// children went: left on from they would die with it, or complete on an SA the peer removes
// its pair with, and a rekey of the unit would wait for them meanwhile.
func (cs *Conn) movePending(now time.Time, from, to IKESA) {
	for _, ch := range cs.Children {
		m, ok := ch.Pending.(movable)
		if !ok || m.OnIKE() != from {
			continue
		}
		m.Withdraw(now, "its ISAKMP SA goes; starting it again on the one that stays")
		switch n := ch.Newest(); {
		case n != nil && n.ike == to && n.state == childInstalled:
			to.StartChild(now, ch, n)
		case n == nil && ch.Want:
			to.StartChild(now, ch, nil)
		}
	}
}

// Decides reports whether this end resolves duplicates of an SA like b (dropDuplicates):
// the end with the lower identity decides alone, and its Delete removes the duplicate at the
// other end. Each end sees the SAs' creation and establishment in its own order (a late
// retransmitted IKE_SA_INIT makes a crossing look like a later re-authentication), so two
// deciders could each delete a different one and leave none. A restarted peer's stale SA
// goes by its INITIAL_CONTACT instead.
func (cs *Conn) Decides(b *SABase) bool {
	return b.LocalID.Type == 0 || b.PeerID.Type == 0 || compareIdentity(b.LocalID, b.PeerID) <= 0
}

// RemoteAccess reports whether the connection is a gateway handing out virtual IPs: its
// IKE SAs belong to different clients, so a child never moves from one to another (a rekey
// of the IKE SA moves its children itself), and goes with its IKE SA.
func (cs *Conn) RemoteAccess() bool { return len(cs.Cfg.Pools) > 0 }

// MultiPeer reports whether the connection's IKE SAs may belong to different peers: a
// remote-access gateway, or a responder for any address and any identity (remote_addr and
// remote_id "%any"), where road warriors with subnets of their own meet. Each peer's pairs
// then get their own SPD entry (their remote selectors, ra.go), supersede only that peer's
// pairs, and stay with that peer's IKE SAs.
func (cs *Conn) MultiPeer() bool {
	return cs.RemoteAccess() || !cs.Cfg.RemoteAddr.IsValid() && cs.Cfg.RemoteID.Any
}

// samePeer reports whether two IKE SAs of a multi-peer connection talk to the same peer
// (its authenticated identity; for an XAUTH client its login): a re-authentication.
func samePeer(a, b IKESA) bool {
	pa, pb := a.Base().PeerID, b.Base().PeerID
	return pa.Type != 0 && compareIdentity(pa, pb) == 0
}

// compareIdentity orders identities by type, then data.
func compareIdentity(a, b Identity) int {
	if a.Type != b.Type {
		return int(a.Type) - int(b.Type)
	}
	return bytes.Compare(a.Data, b.Data)
}

// ChildrenOf returns the child SA pairs sa manages, in every state (nil on a nil Conn: an
// SA that has not found its connection yet).
func (cs *Conn) ChildrenOf(sa IKESA) []*ChildSA {
	if cs == nil {
		return nil
	}
	var out []*ChildSA
	for _, ch := range cs.Children {
		for _, csa := range ch.SAs {
			if csa.ike == sa {
				out = append(out, csa)
			}
		}
	}
	return out
}

// pairsOn counts the installed child SA pairs sa manages.
func (cs *Conn) pairsOn(sa IKESA) (n int) {
	for _, ch := range cs.Children {
		for _, csa := range ch.SAs {
			if csa.ike == sa && csa.state == childInstalled {
				n++
			}
		}
	}
	return n
}

// carriesChildren reports whether sa manages a child pair or is about to (AuthChild).
func (cs *Conn) carriesChildren(sa IKESA) bool { return sa.Base().AuthChild || cs.pairsOn(sa) > 0 }

// Retire marks the SA as on its way out (an IKEv2 SA replaced by its rekey): the core
// neither counts it as a duplicate of its successor nor gives it new children.
func (b *SABase) Retire() { b.retiring = true }

// Retiring reports whether the core decided to delete the SA (a replaced or duplicate
// SA kept a moment for messages in flight): it is not rekeyed and carries no new children.
func (b *SABase) Retiring() bool { return b.retiring }

// IKEGone runs when an IKE SA of the connection dies: its children move to another IKE SA
// or go with it; a failed initiation fails its waiters and is retried if the connection is
// persistent.
func (cs *Conn) IKEGone(now time.Time, sa IKESA, wasEstablished bool, reason error) {
	for i, s := range cs.ikes {
		if s == sa {
			cs.ikes = slices.Delete(cs.ikes, i, i+1) // zeroes the freed slot: no dead SA stays reachable
			break
		}
	}
	cs.c.stopDPD(sa)
	for _, x := range cs.ikes {
		if xb := x.Base(); xb.replacedBy == sa && xb.retiring && xb.duplicateOf == nil && xb.Established() {
			// The re-authentication that was to replace x is gone before x was deleted
			// (the peer kept x and deleted ours): x stays, and takes the children back.
			xb.retiring, xb.replacedBy = false, nil
			xb.Log.Info("the IKE SA that replaced this one is gone: keeping this one")
			cs.c.startDPD(now, x)
		}
	}
	next := cs.Current()
	for _, ch := range cs.Children {
		for _, csa := range append([]*ChildSA(nil), ch.SAs...) {
			if csa.ike != sa {
				continue
			}
			if !cs.MultiPeer() && next != nil {
				csa.ike = next
				continue
			}
			if cs.MultiPeer() && !cs.RemoteAccess() {
				if same := cs.establishedLike(sa); same != nil {
					csa.ike = same
					continue
				}
			}
			// Without an IKE SA they cannot be rekeyed or deleted properly; like strongSwan
			// we remove them.
			csa.Remove(now, false, reason)
		}
	}
	if !wasEstablished {
		if sa.Base().Initiator {
			cs.lastError, cs.lastErrAt = reason, now
			cs.failWaiters(reason)
		}
		if cs.persistent && cs.Current() == nil && cs.Connecting() == nil {
			cs.scheduleRetry(now)
		}
		return
	}
	if cs.persistent && next == nil && cs.Connecting() == nil && errors.Is(reason, ErrExpired) {
		cs.BringUp(now, cs.Wanted())
	}
}

// Wanted returns the units that should be up.
func (cs *Conn) Wanted() []*ChildState {
	var out []*ChildState
	for _, ch := range cs.Children {
		if ch.Want {
			out = append(out, ch)
		}
	}
	return out
}

// scheduleRetry re-initiates a persistent connection after a failure with exponential
// backoff and jitter: about 2 s, 4 s, 8 s ... at most a minute apart (a negotiation that
// is not answered already takes the whole retransmission schedule).
func (cs *Conn) scheduleRetry(now time.Time) {
	switch {
	case cs.retryDelay == 0:
		cs.retryDelay = 2 * time.Second
	default:
		cs.retryDelay = min(2*cs.retryDelay, time.Minute)
	}
	d := cs.retryDelay + cs.retryDelay/5 - cs.c.Jitter(cs.retryDelay*2/5, 1)
	cs.retryAt = now.Add(d)
	cs.c.Timers.Arm(cs.retry, cs.retryAt)
}

func (cs *Conn) retryDue(now time.Time) {
	if cs.persistent && cs.Current() == nil && cs.Connecting() == nil {
		cs.Log().Info("re-initiating")
		cs.BringUp(now, cs.Wanted())
	}
}

// Terminate deletes every SA of the connection, telling the peer, and stops re-initiating.
func (cs *Conn) Terminate(now time.Time, reason error) {
	cs.persistent = false
	cs.c.Timers.Stop(cs.retry)
	for _, ch := range cs.Children {
		ch.Want, ch.Hold = false, false
		cs.c.Timers.Stop(ch.delay)
		if ch.Pending != nil {
			ch.Pending.Abort(now, reason)
			ch.Pending = nil
		}
		for _, csa := range append([]*ChildSA(nil), ch.SAs...) {
			csa.Remove(now, true, reason)
		}
	}
	for _, sa := range append([]IKESA(nil), cs.ikes...) {
		sa.Delete(now, true, reason)
	}
	cs.failWaiters(reason)
}

// SetPersistent marks the connection to be re-initiated after failures.
func (cs *Conn) SetPersistent() { cs.persistent = true }

// waiter is an Initiate call waiting for its children (or its IKE SA).
type waiter struct {
	pending  map[*ChildState]bool
	done     chan error
	finished bool
}

func (w *waiter) finish(err error) {
	if !w.finished {
		w.finished = true
		w.done <- err
	}
}

// AddWaiter registers an Initiate call waiting for children (none: for the IKE SA).
func (cs *Conn) AddWaiter(children []*ChildState) <-chan error {
	w := &waiter{pending: map[*ChildState]bool{}, done: make(chan error, 1)}
	for _, ch := range children {
		w.pending[ch] = true
	}
	cs.waiters = append(cs.waiters, w)
	return w.done
}

func (cs *Conn) childUp(ch *ChildState) {
	cs.pruneWaiters(func(w *waiter) {
		delete(w.pending, ch)
		if len(w.pending) == 0 {
			w.finish(nil)
		}
	})
}

func (cs *Conn) childFailed(ch *ChildState, err error) {
	cs.pruneWaiters(func(w *waiter) {
		if w.pending[ch] {
			w.finish(err)
		}
	})
}

func (cs *Conn) failWaiters(err error) {
	cs.pruneWaiters(func(w *waiter) { w.finish(err) })
}

func (cs *Conn) resolveIKEWaiters(err error) {
	cs.pruneWaiters(func(w *waiter) {
		if len(w.pending) == 0 {
			w.finish(err)
		}
	})
}

func (cs *Conn) pruneWaiters(f func(*waiter)) {
	keep := cs.waiters[:0]
	for _, w := range cs.waiters {
		f(w)
		if !w.finished {
			keep = append(keep, w)
		}
	}
	cs.waiters = keep
}

// errConnTerminated is the reason of a Terminate command.
var errConnTerminated = fmt.Errorf("%w: terminated", ErrDeleted)

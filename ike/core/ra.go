package core

// Multi-peer connections (Conn.MultiPeer: a remote-access gateway, a connection with pools;
// or a responder for remote_addr and remote_id "%any"): the connection's IKE SAs belong to
// different peers, and a configured child carries one pair per peer, each for the peer's own
// virtual IP or subnet. Their outbound traffic cannot share the child's one SPD entry, so
// each peer's pairs get their own (the child's local selectors, the pair's remote ones); the
// child's entry stays out of the SPD. A pair supersedes, replaces and evicts only pairs of
// the same peer (the same remote selectors). Other connections keep one entry per child.

import "oakley/esp"

// sameClient reports whether x belongs to the same peer as csa: always on a single-peer
// connection, else when their remote selectors are the same (the peer's virtual IP or subnet).
func (csa *ChildSA) sameClient(x *ChildSA) bool {
	if !csa.ch.Conn.MultiPeer() {
		return true
	}
	return SelectorsString(csa.p.RemoteTS) == SelectorsString(x.p.RemoteTS)
}

// policy is the SPD entry the pair sends through.
func (csa *ChildSA) policy() *esp.Policy {
	if csa.raPolicy != nil {
		return csa.raPolicy
	}
	return csa.ch.Policy
}

// attachPolicy gives a remote-access pair its client's SPD entry (shared with the client's
// other pairs, made when it is the first).
func (csa *ChildSA) attachPolicy() {
	ch := csa.ch
	if !ch.Conn.MultiPeer() {
		return
	}
	for _, x := range ch.SAs {
		if x != csa && x.raPolicy != nil && x.state != childDead && csa.sameClient(x) {
			csa.raPolicy = x.raPolicy
			return
		}
	}
	csa.raPolicy = &esp.Policy{Name: ch.Policy.Name, Local: ch.Policy.Local, Remote: csa.p.RemoteTS, Action: esp.Protect}
	csa.c.DP.AddPolicy(csa.raPolicy)
}

// detachPolicy removes a remote-access client's SPD entry with its last pair.
func (csa *ChildSA) detachPolicy() {
	p := csa.raPolicy
	if p == nil {
		return
	}
	for _, x := range csa.ch.SAs {
		if x != csa && x.raPolicy == p && x.state != childDead {
			return
		}
	}
	csa.c.DP.Unbind(p)
	csa.c.DP.RemovePolicy(p)
}

// newestLike is the newest installed pair of csa's client.
func (ch *ChildState) newestLike(csa *ChildSA) *ChildSA {
	for i := len(ch.SAs) - 1; i >= 0; i-- {
		if x := ch.SAs[i]; x.state == childInstalled && csa.sameClient(x) {
			return x
		}
	}
	return nil
}

// anyBoundLike reports whether one of csa's client's pairs carries its outbound traffic.
func (ch *ChildState) anyBoundLike(csa *ChildSA) bool {
	for _, x := range ch.SAs {
		if x.bound && csa.sameClient(x) {
			return true
		}
	}
	return false
}

// pairsLike counts csa's client's pairs.
func (ch *ChildState) pairsLike(csa *ChildSA) int {
	n := 0
	for _, x := range ch.SAs {
		if csa.sameClient(x) {
			n++
		}
	}
	return n
}

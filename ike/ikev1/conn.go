package ikev1

import (
	"net/netip"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// responderCandidates returns the connections that may answer a first message from a peer:
// those whose remote address is the peer's come first, then %any ones (the core's order).
// Aggressive Mode also needs aggressive = true, with a pre-shared key the insecure opt-in,
// and, when known, the identity.
func (c *Protocol) responderCandidates(from netip.AddrPort, aggressive bool, id *isakmp.Identification) []*core.Conn {
	var out []*core.Conn
	for _, cs := range c.Candidates(1, from.Addr()) {
		if aggressive && !(cs.Cfg.Aggressive && (cs.Cfg.InsecureAlgorithms || usesCerts(cs.Cfg))) {
			continue
		}
		if id != nil && !idMatches(cs.Cfg.RemoteID, id) {
			continue
		}
		out = append(out, cs)
	}
	return out
}

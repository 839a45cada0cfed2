package ikev1

import (
	"bytes"
	"net/netip"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// idPayload returns the ID payload of a Phase 1 identity: protocol 0 and port 0, as
// strongSwan sends them (RFC 2407 §4.6.2.1 allows 0/0 or UDP/500).
func idPayload(id core.Identity) *isakmp.Identification {
	return &isakmp.Identification{IDType: isakmp.IDType(id.Type), Data: bytes.Clone(id.Data)}
}

// addrIDPayload is the ID payload of an address identity.
func addrIDPayload(a netip.Addr) *isakmp.Identification { return idPayload(core.AddrIdentity(a)) }

// idMatches reports whether a received Phase 1 ID payload is the (remote) identity id.
// Protocol and port are not compared (RFC 2407 §4.6.2.1 lets them be 0/0 or UDP/500, and
// peers differ).
func idMatches(id core.Identity, p *isakmp.Identification) bool {
	return p != nil && core.MatchID(id, core.IDType(p.IDType), p.Data)
}

// idOfPayload renders a received ID payload for logs and status.
func idOfPayload(p *isakmp.Identification) string {
	if p == nil {
		return "(none)"
	}
	return core.IDString(core.IDType(p.IDType), p.Data)
}

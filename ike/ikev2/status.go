package ikev2

import (
	"fmt"

	"oakley/ike/core"
)

// Status describes the IKE SA for `oakley status` (core.IKESA): version 2, both SPIs, the
// negotiated algorithms (with the PRF), authentication, NAT and DPD.
func (sa *ikeSA) Status() core.IKESAStatus {
	s := core.IKESAStatus{
		Version: 2, InitiatorCookie: sa.spiI.String(), ResponderCookie: sa.spiR.String(), Initiator: sa.Initiator,
		Mode: "IKEv2", State: sa.state.String(), Remote: sa.Remote.String(), RemoteID: idString(sa.peerID),
		Created: sa.Created, EstablishedAt: core.TimePtr(sa.EstablishedAt), ReauthAt: core.TimePtr(sa.rekeyAt),
		ExpiresAt: core.TimePtr(sa.expiresAt), NATT: sa.NATT, NATLocal: sa.nat.local, NATRemote: sa.nat.remote,
		NATForced: sa.nat.fake, DPD: sa.DPDOn(), DPDPending: sa.DPDPending(), Auth: sa.authDesc,
		PeerCert: certDesc(sa.peerCert), VirtualIPs: sa.VirtualIPStrings(),
	}
	if sa.Local.IsValid() {
		s.Local = fmt.Sprintf("%s:%d", sa.Local, sa.ourPort())
	}
	if sa.eapID != "" {
		// A gateway's EAP client: the identity it logged in with is what identifies it.
		s.RemoteID += " (EAP " + sa.eapID + ")"
		s.Auth += ", peer " + eapMethodName(sa.Conn.Cfg.EAP) + " " + sa.eapID
	}
	if sa.localID != nil {
		s.LocalID = idString(sa.localID)
	}
	if t := sa.tr; t.enc != nil {
		s.Encryption, s.PRF, s.DHGroup = t.enc.Name, t.prf.Name, t.dh.Name
		if t.integ != nil {
			s.Hash = t.integ.Name
		}
	}
	if sa.peerSigHash {
		s.PeerExtensions = append(s.PeerExtensions, "signature-hash-algorithms")
	}
	if sa.frag.peer {
		s.PeerExtensions = append(s.PeerExtensions, "fragmentation")
	}
	if sa.mob.on {
		s.PeerExtensions = append(s.PeerExtensions, "mobike")
	}
	return s
}

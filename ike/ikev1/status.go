package ikev1

import (
	"fmt"

	"oakley/ike/core"
)

// Status describes the ISAKMP SA (core.IKESA).
func (sa *ikeSA) Status() core.IKESAStatus {
	s := core.IKESAStatus{
		Version:         1,
		InitiatorCookie: sa.ckyI.String(), ResponderCookie: sa.ckyR.String(), Initiator: sa.Initiator,
		Mode: sa.modeName(), State: sa.state.String(), Remote: sa.Remote.String(),
		RemoteID: idOfPayload(sa.peerID), Created: sa.Created,
		EstablishedAt: core.TimePtr(sa.EstablishedAt), ReauthAt: core.TimePtr(sa.reauthAt), ExpiresAt: core.TimePtr(sa.expiresAt),
		NATT: sa.NATT, NATLocal: sa.nat.local, NATRemote: sa.nat.remote, NATForced: sa.nat.fake,
		DPD: sa.DPDOn(), DPDPending: sa.DPDPending(),
		PeerCert: sa.peerCertInfo(),
	}
	if sa.Local.IsValid() {
		s.Local = fmt.Sprintf("%s:%d", sa.Local, sa.ourPort())
	}
	if sa.localIDP != nil {
		s.LocalID = idOfPayload(sa.localIDP)
	}
	if sa.tr.enc != nil {
		s.Encryption, s.Hash, s.DHGroup, s.Auth = sa.tr.enc.Name, sa.tr.hash.Name, sa.tr.group.Name, sa.tr.auth.String()
	}
	for _, e := range []struct {
		on   bool
		name string
	}{{sa.ext.natt == nattRFC, "natt-rfc3947"}, {sa.ext.natt == nattDraft, "natt-draft"}, {sa.ext.dpd, "dpd"},
		{sa.ext.xauth, "xauth"}, {sa.ext.unity, "cisco-unity"}, {sa.ext.frag, "fragmentation"}} {
		if e.on {
			s.PeerExtensions = append(s.PeerExtensions, e.name)
		}
	}
	return s
}

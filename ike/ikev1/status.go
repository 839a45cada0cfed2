package ike

import (
	"fmt"
	"slices"
	"time"

	"oakley/esp"
	"oakley/ike/isakmp"
)

// ConnStatus is the state of one connection, for `oakley status` (JSON-friendly; no key
// material). A snapshot: plain data owned by the caller.
type ConnStatus struct {
	Name     string        `json:"name"`
	IKESAs   []IKESAStatus `json:"ike_sas"`
	Children []ChildStatus `json:"child_sas"`
}

// IKESAStatus describes one ISAKMP SA.
type IKESAStatus struct {
	InitiatorCookie string     `json:"initiator_cookie"`
	ResponderCookie string     `json:"responder_cookie"`
	Initiator       bool       `json:"initiator"`
	Mode            string     `json:"mode"`
	State           string     `json:"state"`
	Local           string     `json:"local"`
	Remote          string     `json:"remote"`
	LocalID         string     `json:"local_id"`
	RemoteID        string     `json:"remote_id"`
	Encryption      string     `json:"encryption,omitempty"`
	Hash            string     `json:"hash,omitempty"`
	DHGroup         string     `json:"dh_group,omitempty"`
	Auth            string     `json:"auth,omitempty"`
	Created         time.Time  `json:"created"`
	EstablishedAt   *time.Time `json:"established_at,omitempty"`
	ReauthAt        *time.Time `json:"reauth_at,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	NATT            bool       `json:"natt"`
	NATLocal        bool       `json:"nat_local"`
	NATRemote       bool       `json:"nat_remote"`
	NATForced       bool       `json:"nat_forced"`
	DPD             bool       `json:"dpd"`
	DPDPending      bool       `json:"dpd_pending,omitempty"`
	PeerExtensions  []string   `json:"peer_extensions,omitempty"`
}

// ChildStatus describes one installed child SA pair.
type ChildStatus struct {
	Name        string       `json:"name"`
	State       string       `json:"state"`
	Mode        string       `json:"mode"`
	Protocol    string       `json:"protocol"`
	SPIIn       string       `json:"spi_in"`
	SPIOut      string       `json:"spi_out"`
	Encryption  string       `json:"encryption,omitempty"`
	Integrity   string       `json:"integrity,omitempty"`
	PFSGroup    string       `json:"pfs_group,omitempty"`
	ESN         bool         `json:"esn"`
	Encap       string       `json:"encap"`
	Peer        string       `json:"peer"`
	Initiator   bool         `json:"initiator"`
	LocalTS     []string     `json:"local_ts"`
	RemoteTS    []string     `json:"remote_ts"`
	InstalledAt time.Time    `json:"installed_at"`
	RekeyAt     *time.Time   `json:"rekey_at,omitempty"`
	ExpiresAt   time.Time    `json:"expires_at"`
	LifeBytes   uint64       `json:"life_bytes,omitempty"`
	In          esp.Snapshot `json:"in"`
	Out         esp.Snapshot `json:"out"`
	// InSA and OutSA are the data plane's SAs (not serialised).
	InSA  *esp.SA `json:"-"`
	OutSA *esp.SA `json:"-"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// status collects the state of every connection.
func (c *core) status() []ConnStatus {
	var out []ConnStatus
	all := c.allSAs()
	for _, cs := range c.conns {
		st := ConnStatus{Name: cs.cfg.Name, IKESAs: []IKESAStatus{}, Children: []ChildStatus{}}
		for _, sa := range cs.ikes {
			st.IKESAs = append(st.IKESAs, sa.status())
		}
		// Responder SAs still negotiating are not in cs.ikes yet.
		for _, sa := range all {
			if sa.conn == cs && !slices.Contains(cs.ikes, sa) {
				st.IKESAs = append(st.IKESAs, sa.status())
			}
		}
		for _, ch := range cs.children {
			for _, csa := range ch.sas {
				st.Children = append(st.Children, csa.status())
			}
		}
		out = append(out, st)
	}
	// Responder SAs not yet bound to a connection.
	var loose []IKESAStatus
	for _, sa := range all {
		if sa.conn == nil {
			loose = append(loose, sa.status())
		}
	}
	if len(loose) > 0 {
		out = append(out, ConnStatus{Name: "(unidentified)", IKESAs: loose, Children: []ChildStatus{}})
	}
	return out
}

func (sa *ikeSA) status() IKESAStatus {
	s := IKESAStatus{
		InitiatorCookie: sa.ckyI.String(), ResponderCookie: sa.ckyR.String(), Initiator: sa.initiator,
		Mode: sa.modeName(), State: sa.state.String(), Remote: sa.remote.String(),
		RemoteID: idOfPayload(sa.peerID), Created: sa.created,
		EstablishedAt: timePtr(sa.estab), ReauthAt: timePtr(sa.reauthAt), ExpiresAt: timePtr(sa.expiresAt),
		NATT: sa.natt, NATLocal: sa.nat.local, NATRemote: sa.nat.remote, NATForced: sa.nat.fake,
		DPD: sa.dpd != nil, DPDPending: sa.dpd != nil && sa.dpd.pending,
	}
	if sa.localIP.IsValid() {
		s.Local = fmt.Sprintf("%s:%d", sa.localIP, sa.ourPort())
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

func (csa *childSA) status() ChildStatus {
	s := ChildStatus{
		Name: csa.ch.cfg.Name, State: csa.state.String(), Mode: csa.ch.mode().String(),
		Protocol: map[isakmp.ProtocolID]string{isakmp.ProtoESP: "ESP", isakmp.ProtoAH: "AH"}[csa.proto],
		SPIIn:    fmt.Sprintf("%08x", csa.inSPI), SPIOut: fmt.Sprintf("%08x", csa.outSPI),
		ESN: csa.tr.esn, Encap: csa.encap.String(), Peer: csa.peer.String(), Initiator: csa.initiator,
		InstalledAt: csa.installed, RekeyAt: timePtr(csa.rekeyAt), ExpiresAt: csa.expiresAt,
		LifeBytes: csa.lifeBytes, InSA: csa.in, OutSA: csa.out,
	}
	if csa.tr.enc != nil {
		s.Encryption = csa.tr.enc.Name
	}
	if csa.tr.integ != nil {
		s.Integrity = csa.tr.integ.Name
	}
	if csa.tr.group != nil {
		s.PFSGroup = csa.tr.group.Name
	}
	for _, t := range csa.localTS {
		s.LocalTS = append(s.LocalTS, t.String())
	}
	for _, t := range csa.remoteTS {
		s.RemoteTS = append(s.RemoteTS, t.String())
	}
	if csa.in != nil {
		s.In = csa.in.Stats.Snapshot()
	}
	if csa.out != nil {
		s.Out = csa.out.Stats.Snapshot()
	}
	return s
}

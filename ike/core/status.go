package core

import (
	"fmt"
	"slices"
	"time"

	"oakley/esp"
)

// ConnStatus is the state of one connection, for `oakley status` (JSON-friendly; no key
// material). A snapshot: plain data owned by the caller.
type ConnStatus struct {
	Name        string        `json:"name"`
	Version     uint8         `json:"version"`
	LastError   string        `json:"last_error,omitempty"`
	LastErrorAt *time.Time    `json:"last_error_at,omitempty"`
	NextAttempt *time.Time    `json:"next_attempt,omitempty"`
	IKESAs      []IKESAStatus `json:"ike_sas"`
	Children    []ChildStatus `json:"child_sas"`
}

// IKESAStatus describes one IKE SA.
type IKESAStatus struct {
	Version         uint8     `json:"version"`
	InitiatorCookie string    `json:"initiator_spi"` // IKEv1 cookie / IKEv2 SPI, hex
	ResponderCookie string    `json:"responder_spi"`
	Initiator       bool      `json:"initiator"`
	Mode            string    `json:"mode"`
	State           string    `json:"state"`
	Local           string    `json:"local"`
	Remote          string    `json:"remote"`
	LocalID         string    `json:"local_id"`
	RemoteID        string    `json:"remote_id"`
	Encryption      string    `json:"encryption,omitempty"`
	Hash            string    `json:"hash,omitempty"` // IKEv1 hash / IKEv2 integrity
	PRF             string    `json:"prf,omitempty"`
	DHGroup         string    `json:"dh_group,omitempty"`
	Auth            string    `json:"auth,omitempty"`
	PeerCert        *CertInfo `json:"peer_cert,omitempty"`
	VirtualIPs      []string  `json:"virtual_ips,omitempty"`
	// User is the XAUTH or EAP user who logged in (a gateway's client), filled by the core.
	User string `json:"user,omitempty"`
	// Traffic is what the SA's child pairs carried (inner bytes and packets, in = from the
	// peer), filled by the core: a client's traffic on a remote-access gateway. Pairs that
	// are gone (rekeyed and deleted) no longer count.
	Traffic        Traffic    `json:"traffic"`
	Created        time.Time  `json:"created"`
	EstablishedAt  *time.Time `json:"established_at,omitempty"`
	ReauthAt       *time.Time `json:"reauth_at,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	NATT           bool       `json:"natt"`
	NATLocal       bool       `json:"nat_local"`
	NATRemote      bool       `json:"nat_remote"`
	NATForced      bool       `json:"nat_forced"`
	DPD            bool       `json:"dpd"`
	DPDPending     bool       `json:"dpd_pending,omitempty"`
	PeerExtensions []string   `json:"peer_extensions,omitempty"`
}

// Traffic counts inner bytes and packets in each direction.
type Traffic struct {
	BytesIn    uint64 `json:"bytes_in"`
	BytesOut   uint64 `json:"bytes_out"`
	PacketsIn  uint64 `json:"packets_in"`
	PacketsOut uint64 `json:"packets_out"`
}

// CertInfo describes the certificate a peer authenticated with.
type CertInfo struct {
	Subject     string `json:"subject"`
	Issuer      string `json:"issuer"`
	Fingerprint string `json:"sha256"`
}

// ChildStatus describes one installed child SA pair, or a configured unit without one
// (State "down" or "connecting", no SPIs).
type ChildStatus struct {
	Name        string       `json:"name"`  // the unit: the child's name, ".N" for IKEv1 selector pair N
	Child       string       `json:"child"` // the configured child
	State       string       `json:"state"` // installed | rekeyed | down | connecting
	LastError   string       `json:"last_error,omitempty"`
	Mode        string       `json:"mode"`
	Protocol    string       `json:"protocol"`
	SPIIn       string       `json:"spi_in,omitempty"`
	SPIOut      string       `json:"spi_out,omitempty"`
	Encryption  string       `json:"encryption,omitempty"`
	Integrity   string       `json:"integrity,omitempty"`
	PFSGroup    string       `json:"pfs_group,omitempty"`
	ESN         bool         `json:"esn"`
	Encap       string       `json:"encap,omitempty"`
	Peer        string       `json:"peer,omitempty"`
	Initiator   bool         `json:"initiator"`
	LocalTS     []string     `json:"local_ts"`
	RemoteTS    []string     `json:"remote_ts"`
	InstalledAt *time.Time   `json:"installed_at,omitempty"`
	RekeyAt     *time.Time   `json:"rekey_at,omitempty"`
	ExpiresAt   *time.Time   `json:"expires_at,omitempty"`
	LifeBytes   uint64       `json:"life_bytes,omitempty"`
	Unconfirmed bool         `json:"unconfirmed,omitempty"` // kept for the peer's first packet: its negotiation ended unconfirmed (KeepUnconfirmed)
	In          esp.Snapshot `json:"in"`
	Out         esp.Snapshot `json:"out"`
	// InSA and OutSA are the data plane's SAs (not serialised).
	InSA  *esp.SA `json:"-"`
	OutSA *esp.SA `json:"-"`
}

// TimePtr returns nil for the zero time.
func TimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Status collects the state of every connection.
func (c *Core) Status() []ConnStatus {
	var out []ConnStatus
	all := c.AllSAs()
	for _, cs := range c.conns {
		st := ConnStatus{Name: cs.Cfg.Name, Version: cs.Cfg.Version, IKESAs: []IKESAStatus{}, Children: []ChildStatus{}}
		if cs.lastError != nil {
			st.LastError, st.LastErrorAt = cs.lastError.Error(), TimePtr(cs.lastErrAt)
		}
		if cs.retry.Armed() {
			st.NextAttempt = TimePtr(cs.retryAt)
		}
		for _, sa := range cs.ikes {
			st.IKESAs = append(st.IKESAs, c.ikeSAStatus(cs, sa))
		}
		// Responder SAs still negotiating are not in cs.ikes yet.
		for _, sa := range all {
			if sa.Base().Conn == cs && !slices.Contains(cs.ikes, sa) {
				st.IKESAs = append(st.IKESAs, c.ikeSAStatus(cs, sa))
			}
		}
		for _, ch := range cs.Children {
			for _, csa := range ch.SAs {
				st.Children = append(st.Children, csa.status())
			}
			if len(ch.SAs) == 0 {
				st.Children = append(st.Children, ch.status())
			}
		}
		out = append(out, st)
	}
	// Responder SAs not yet bound to a connection.
	var loose []IKESAStatus
	for _, sa := range all {
		if sa.Base().Conn == nil {
			loose = append(loose, sa.Status())
		}
	}
	if len(loose) > 0 {
		out = append(out, ConnStatus{Name: "(unidentified)", IKESAs: loose, Children: []ChildStatus{}})
	}
	return out
}

// ikeSAStatus is sa's own status with what the core knows about it: the user who logged in
// and the traffic of the connection's pairs it manages.
func (c *Core) ikeSAStatus(cs *Conn, sa IKESA) IKESAStatus {
	s := sa.Status()
	s.User = sa.Base().user
	for _, ch := range cs.Children {
		for _, csa := range ch.SAs {
			if csa.ike != sa {
				continue
			}
			if csa.in != nil {
				in := csa.in.Stats.Snapshot()
				s.Traffic.BytesIn += in.Bytes
				s.Traffic.PacketsIn += in.Packets
			}
			if csa.out != nil {
				out := csa.out.Stats.Snapshot()
				s.Traffic.BytesOut += out.Bytes
				s.Traffic.PacketsOut += out.Packets
			}
		}
	}
	return s
}

// status describes a unit that has no installed pair.
func (ch *ChildState) status() ChildStatus {
	s := ChildStatus{Name: ch.Name(), Child: ch.Cfg.Name, State: "down", Mode: ch.Mode().String(), Protocol: ch.Proto.String(),
		LocalTS: selectorStrings(ch.LocalTS), RemoteTS: selectorStrings(ch.RemoteTS)}
	if ch.Pending != nil {
		s.State = "connecting"
	}
	if ch.LastError != nil {
		s.LastError = ch.LastError.Error()
	}
	return s
}

func selectorStrings(sel []esp.Selector) []string {
	out := []string{}
	for _, t := range sel {
		out = append(out, t.String())
	}
	return out
}

func (csa *ChildSA) status() ChildStatus {
	p := &csa.p
	s := ChildStatus{
		Name: csa.ch.Name(), Child: csa.ch.Cfg.Name, State: csa.state.String(), Mode: p.Mode.String(),
		Protocol: csa.ch.Proto.String(),
		SPIIn:    fmt.Sprintf("%08x", p.InSPI), SPIOut: fmt.Sprintf("%08x", p.OutSPI),
		ESN: p.ESN, Encap: p.Encap.String(), Peer: p.Peer.String(), Initiator: p.Initiator,
		InstalledAt: TimePtr(csa.installed), RekeyAt: TimePtr(csa.rekeyAt), ExpiresAt: TimePtr(csa.expiresAt),
		LifeBytes: csa.lifeBytes, Unconfirmed: csa.kept, InSA: csa.in, OutSA: csa.out,
		LocalTS: selectorStrings(p.LocalTS), RemoteTS: selectorStrings(p.RemoteTS),
		In: csa.in.Stats.Snapshot(), Out: csa.out.Stats.Snapshot(),
	}
	if p.Enc != nil {
		s.Encryption = p.Enc.Name
	}
	if p.Integ != nil {
		s.Integrity = p.Integ.Name
	}
	if p.PFS != nil {
		s.PFSGroup = p.PFS.Name
	}
	return s
}

package main

// Wiring of the IKE engine: configuration → ike.Connection, the data plane's IKE messages →
// the engine, the engine's status → `oakley status`.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"oakley/config"
	"oakley/esp"
	"oakley/ike"
	"oakley/ike/core"
	"oakley/ike/pki"
)

// ikeAvailable says whether this build carries the IKE engine (the demo uses it when so).
const ikeAvailable = true

type ikeRuntime struct {
	engine *ike.Engine
	log    *zap.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

func ikeIdentity(id config.Identity) ike.Identity {
	if id.Type == config.IDAny {
		return ike.AnyIdentity
	}
	return ike.Identity{Type: ike.IDType(id.Type), Data: append([]byte(nil), id.Data...)}
}

func childMode(ch *config.Child) esp.Mode {
	if ch.Mode == "transport" {
		return esp.Transport
	}
	return esp.Tunnel
}

// ikeConnection converts a configured connection for the engine, loading its certificates,
// key, trust anchors and CRLs (auth = "pubkey" / "pke"). Errors name the file, never key
// material.
func (d *daemon) ikeConnection(c *config.Connection) (*ike.Connection, error) {
	ic := &ike.Connection{
		Name: c.Name, Version: uint8(c.Version), Aggressive: c.Aggressive,
		LocalAddr: c.LocalIP, RemoteAddr: c.RemoteIP,
		RemotePort: c.RemotePort, RemoteNATTPort: c.RemoteNATTPort,
		LocalID: ikeIdentity(c.LocalID), RemoteID: ikeIdentity(c.RemoteID),
		Auth: c.Auth, PSK: c.PSK, Proposals: c.Proposals, RekeyTime: c.RekeyTime,
		DPDDelay: c.DPDDelay, DPDTimeout: c.DPDTimeout, DPDAction: c.DPDAction,
		StartAction: c.StartAction, Encap: c.Encap, MOBIKE: c.MOBIKE,
		InsecureAlgorithms: d.cfg.Daemon.InsecureAlgorithms,
		VIPs:               c.VIPs, Pools: c.Pools,
	}
	for _, ch := range c.Children {
		ic.Children = append(ic.Children, &ike.Child{
			Name: ch.Name, Mode: childMode(ch),
			LocalTS: selectors(ch.LocalTS), RemoteTS: selectors(ch.RemoteTS),
			ESPProposals: ch.ESPProposals, AHProposals: ch.AHProposals,
			RekeyTime: ch.RekeyTime, LifeBytes: uint64(ch.LifeBytes), LifePackets: uint64(ch.LifePackets),
			ReplayWindow: ch.ReplayWindow, StartAction: ch.StartAction,
		})
	}
	remoteAccess(ic, c)
	if err := ikeCredentials(ic, c); err != nil {
		return nil, fmt.Errorf("connection %q: %w", c.Name, err)
	}
	return ic, nil
}

// ikeCredentials fills the certificate fields of a connection (ike/core/credentials.go).
func ikeCredentials(ic *ike.Connection, c *config.Connection) error {
	ic.Fragmentation = c.Fragmentation
	sc, err := pki.ParseSendCert(c.SendCert)
	if err != nil {
		return err
	}
	ic.SendCert = sc
	if c.Auth == "psk" || c.Auth == "" {
		return nil
	}
	if c.Cert != "" || c.Key != "" {
		creds, err := pki.LoadCredentials(c.Cert, c.Key)
		if err != nil {
			return err
		}
		ic.Creds = creds
	}
	if len(c.CACerts) > 0 || c.RemoteCert != "" {
		trust, err := pki.LoadTrust(c.CACerts, c.RemoteCert, c.CRLs)
		if err != nil {
			return err
		}
		ic.Trust = trust
		if ic.Creds != nil {
			// Our CAs above the chain file, to recognise a CERTREQ that names them.
			ic.Creds = ic.Creds.WithCAs(trust.Anchors())
		}
	}
	return nil
}

func (d *daemon) startIKE(ctx context.Context) error {
	r := &ikeRuntime{log: d.log.Named("ike")}
	var conns []*ike.Connection
	for _, c := range d.cfg.Connections {
		if c.Keying != "ike" {
			continue
		}
		ic, err := d.ikeConnection(c)
		if err != nil {
			return err
		}
		conns = append(conns, ic)
	}
	if len(conns) == 0 {
		return nil
	}
	cfg := ike.Config{}
	cfg.Connections, cfg.Dataplane, cfg.Log = conns, d.dp, r.log
	cfg.IKEPort, cfg.NATTPort = d.cfg.Daemon.IKEPort, d.cfg.Daemon.NATTPort
	cfg.PathMTU = d.pathMTUFor
	if err := remoteAccessConfig(&cfg.Config, d.cfg); err != nil {
		return err
	}
	cfg.OnVirtualIPs = d.vips.event
	if path := os.Getenv("OAKLEY_KEYLOG"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("OAKLEY_KEYLOG: %w", err)
		}
		d.keylog = f
		cfg.KeyLog = core.NewKeyLog(f)
		d.log.Warn("OAKLEY_KEYLOG is set: every IKE and ESP key is written to the key log; for debugging only", zap.String("file", path))
	}
	cfg.Retransmit = ike.Retransmit{Timeout: d.cfg.Daemon.RetransmitTimeout, Base: d.cfg.Daemon.RetransmitBase, Tries: d.cfg.Daemon.RetransmitTries}
	e, err := ike.New(cfg)
	if err != nil {
		return err
	}
	r.engine = e
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		e.Run(rctx)
	}()
	d.ike = r
	return nil
}

func (r *ikeRuntime) handle(msg []byte, from, local netip.AddrPort) {
	r.engine.HandleMessage(msg, from, local)
}

// stop ends the engine within timeout: Deletes for every SA go out before the sockets close.
func (r *ikeRuntime) stop(timeout time.Duration) {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(max(timeout, 100*time.Millisecond)):
		r.log.Warn("IKE engine did not stop in time", zap.Duration("waited", timeout))
	}
}

func (r *ikeRuntime) command(cmd, conn, child string) error {
	switch cmd {
	case "initiate":
		return r.engine.Initiate(conn, child)
	case "terminate":
		return r.engine.Terminate(conn)
	case "rekey":
		return r.engine.Rekey(conn, child)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func (r *ikeRuntime) counters() map[string]uint64 { return r.engine.Counters() }

func until(t *time.Time) string {
	if t == nil {
		return ""
	}
	return max(time.Until(*t), 0).Round(time.Second).String()
}

// fillStatus adds the engine's IKE SAs and children (one entry per negotiable unit: the
// child, or each of its IKEv1 selector pairs, each with its own state) to a connection's
// status.
// clientOf describes a remote-access gateway's client by its established IKE SA: who it is
// (the XAUTH or EAP user, else its IKE identity), its leases and its traffic.
func clientOf(sa ike.IKESAStatus) clientStatus {
	c := clientStatus{Identity: sa.RemoteID, User: sa.User, RemoteID: sa.RemoteID, Peer: sa.Remote,
		VirtualIPs: sa.VirtualIPs, Since: sa.EstablishedAt.UTC().Format(time.RFC3339),
		BytesIn: sa.Traffic.BytesIn, BytesOut: sa.Traffic.BytesOut, PacketsIn: sa.Traffic.PacketsIn, PacketsOut: sa.Traffic.PacketsOut}
	if sa.User != "" {
		c.Identity = sa.User
	}
	return c
}

func (r *ikeRuntime) fillStatus(cs *connStatus, all []ike.ConnStatus, policies []*esp.Policy, gateway bool) {
	for _, s := range all {
		if s.Name != cs.Name {
			continue
		}
		cs.LastError, cs.NextAttempt = s.LastError, until(s.NextAttempt)
		if s.LastErrorAt != nil {
			cs.LastErrorAt = s.LastErrorAt.UTC().Format(time.RFC3339)
		}
		state := "connecting"
		if len(s.IKESAs) == 0 {
			state = "down"
		}
		for _, sa := range s.IKESAs {
			var facts []string
			if sa.NATLocal {
				facts = append(facts, "local behind NAT")
			}
			if sa.NATRemote {
				facts = append(facts, "peer behind NAT")
			}
			if sa.NATForced {
				facts = append(facts, "UDP encapsulation forced")
			}
			est := ""
			if sa.EstablishedAt != nil {
				est = time.Since(*sa.EstablishedAt).Round(time.Second).String()
				state = "established"
			}
			dpd := ""
			if sa.DPD {
				dpd = "on"
			}
			cs.IKESAs = append(cs.IKESAs, ikeSAStatus{
				Initiator: sa.Initiator, Cookies: sa.InitiatorCookie + ":" + sa.ResponderCookie,
				State: sa.State, Peer: sa.Remote, Mode: sa.Mode,
				Algorithms: ikeAlgorithms(sa),
				Auth:       sa.Auth, NAT: strings.Join(facts, ", "), Established: est, Expires: until(sa.ReauthAt), DPD: dpd,
				PeerCert: peerCert(sa.PeerCert), VirtualIPs: sa.VirtualIPs,
			})
			if gateway && sa.EstablishedAt != nil && len(sa.VirtualIPs) > 0 {
				cs.Clients = append(cs.Clients, clientOf(sa))
			}
		}
		cs.State = state
		unit := map[string]int{} // unit name → index in cs.Children
		for _, ch := range s.Children {
			i, ok := unit[ch.Name]
			if !ok {
				i = len(cs.Children)
				unit[ch.Name] = i
				st := childStatus{Name: ch.Name, Mode: ch.Mode, State: ch.State,
					LocalTS: ch.LocalTS, RemoteTS: ch.RemoteTS, LastError: ch.LastError, SAs: []saStatus{}}
				if p := policyNamed(policies, cs.Name+"/"+ch.Name); p != nil {
					st.NoSA, st.TooBig = p.NoSA.Load(), p.TooBig.Load()
				}
				cs.Children = append(cs.Children, st)
			}
			st := &cs.Children[i]
			if ch.SPIIn == "" {
				continue
			}
			if ch.State == "installed" {
				st.State = "installed"
			}
			if ch.PFSGroup != "" {
				st.PFS = ch.PFSGroup
			}
			var b *esp.Binding
			if p := policyNamed(policies, cs.Name+"/"+ch.Name); p != nil {
				if bb := p.Binding(); bb != nil && bb.SA == ch.OutSA {
					b = bb
				}
			}
			var exp time.Time
			if ch.RekeyAt != nil {
				exp = *ch.RekeyAt
			}
			in, out := saReport(ch.InSA, nil, exp), saReport(ch.OutSA, b, exp)
			in.Unconfirmed, out.Unconfirmed = ch.Unconfirmed, ch.Unconfirmed
			st.SAs = append(st.SAs, in, out)
		}
	}
}

// ikeAlgorithms renders an IKE SA's algorithms in proposal syntax: IKEv1 enc-hash-group,
// IKEv2 enc[-integ]-prf-group (an AEAD has no integrity algorithm).
func ikeAlgorithms(sa ike.IKESAStatus) string {
	parts := []string{sa.Encryption, sa.Hash}
	if sa.Version == 2 {
		parts = append(parts, sa.PRF)
	}
	var out []string
	for _, p := range append(parts, sa.DHGroup) {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "-")
}

func policyNamed(ps []*esp.Policy, name string) *esp.Policy {
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// peerCert converts the engine's description of the peer's certificate.
func peerCert(c *ike.CertInfo) *peerCertStatus {
	if c == nil {
		return nil
	}
	return &peerCertStatus{Subject: c.Subject, Issuer: c.Issuer, Fingerprint: c.Fingerprint}
}

// remoteAccess fills the remote-access fields of a connection: a client's virtual IPs and
// XAUTH or EAP login, a gateway's pools.
func remoteAccess(ic *ike.Connection, c *config.Connection) {
	ic.VIPs, ic.Pools = c.VIPs, c.Pools
	ic.XAuth = c.XAuth
	if c.XAuth == "client" {
		ic.XAuthID, ic.XAuthPassword = c.XAuthID, c.Password
	}
	ic.EAP = c.EAP
	switch {
	case c.EAPClient() && c.EAP == "mschapv2":
		ic.EAPID, ic.EAPPassword = c.EAPID, c.Password
	case c.EAPClient() && c.EAP == "tls":
		ic.EAPID = c.EAPID
	}
}

// remoteAccessConfig gives the engine the [[pool]]s and [[user]]s.
func remoteAccessConfig(cfg *core.Config, c *config.Config) error {
	for _, p := range c.Pools {
		pool, err := core.NewPool(p.Name, p.First, p.Last, p.DNS, p.Split)
		if err != nil {
			return err
		}
		cfg.Pools = append(cfg.Pools, pool)
	}
	for _, u := range c.Users {
		cfg.Users = append(cfg.Users, core.User{Name: u.Name, Password: u.Password, Pools: u.Pools})
	}
	return nil
}

package main

// Wiring of the IKE engine: configuration → ike.Connection, the data plane's IKE messages and
// acquires → the engine, the engine's status → `oakley status`.

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	"oakley/config"
	"oakley/esp"
	"oakley/ike"
	"oakley/ike/isakmp"
)

// ikeAvailable says whether this build carries the IKE engine (the demo uses it when so).
const ikeAvailable = true

type ikeRuntime struct {
	engine *ike.Engine
	cancel context.CancelFunc
	done   chan struct{}
	conns  map[string]bool
	// pairs maps "conn/child" to the engine's child names: IKEv1 Quick Mode negotiates one
	// pair of selectors, so a child with several local_ts/remote_ts becomes one engine child
	// (and one SPD entry) per pair.
	pairs map[string][]string
}

// remoteNATTPort is where the peer receives ESP-in-UDP (and floated IKE).
func remoteNATTPort(_ *config.Config, c *config.Connection) uint16 { return c.RemoteNATTPort }

func ikeIdentity(id config.Identity) ike.Identity {
	if id.Type == config.IDAny {
		return ike.AnyIdentity
	}
	return ike.Identity{Type: isakmp.IDType(id.Type), Data: append([]byte(nil), id.Data...)}
}

func childMode(ch *config.Child) esp.Mode {
	if ch.Mode == "transport" {
		return esp.Transport
	}
	return esp.Tunnel
}

func (d *daemon) startIKE(ctx context.Context) error {
	r := &ikeRuntime{conns: map[string]bool{}, pairs: map[string][]string{}}
	var conns []*ike.Connection
	for _, c := range d.cfg.Connections {
		if c.Keying != "ike" {
			continue
		}
		r.conns[c.Name] = true
		ic := &ike.Connection{
			Name: c.Name, Aggressive: c.Aggressive,
			LocalAddr: c.LocalIP, RemoteAddr: c.RemoteIP,
			RemotePort: c.RemotePort, RemoteNATTPort: c.RemoteNATTPort,
			LocalID: ikeIdentity(c.LocalID), RemoteID: ikeIdentity(c.RemoteID),
			PSK: c.PSK, Proposals: c.Proposals, RekeyTime: c.RekeyTime,
			DPDDelay: c.DPDDelay, DPDTimeout: c.DPDTimeout, DPDAction: c.DPDAction,
			StartAction: c.StartAction, Encap: c.Encap,
			InsecureAlgorithms: d.cfg.Daemon.InsecureAlgorithms,
		}
		if c.Auth != "psk" {
			return fmt.Errorf("connection %s: auth = %q is not implemented yet (pre-shared keys only)", c.Name, c.Auth)
		}
		remote := c.RemoteIP
		mtuFor := func(sa *esp.SA, encap esp.Encap) int {
			peer := sa.Config().RemoteAddr
			if !peer.IsValid() {
				peer = remote
			}
			return saMTU(d.pathMTUFor(peer), sa, encap, peer)
		}
		for _, cr := range d.children {
			if cr.conn != c {
				continue
			}
			key := c.Name + "/" + cr.child.Name
			name := cr.child.Name
			if cr.pair > 0 {
				name = fmt.Sprintf("%s.%d", cr.child.Name, cr.pair)
			}
			r.pairs[key] = append(r.pairs[key], name)
			ch := cr.child
			ic.Children = append(ic.Children, &ike.Child{
				Name: name, Mode: childMode(ch),
				LocalTS: cr.policy.Local, RemoteTS: cr.policy.Remote,
				ESPProposals: ch.ESPProposals, AHProposals: ch.AHProposals,
				RekeyTime: ch.RekeyTime, LifeBytes: uint64(ch.LifeBytes), LifePackets: uint64(ch.LifePackets),
				ReplayWindow: ch.ReplayWindow, StartAction: ch.StartAction,
				Policy: cr.policy, MTU: mtuFor,
			})
		}
		conns = append(conns, ic)
	}
	if len(conns) == 0 {
		return nil
	}
	e, err := ike.New(ike.Config{Connections: conns, Dataplane: d.dp, IKEPort: d.cfg.Daemon.IKEPort,
		NATTPort: d.cfg.Daemon.NATTPort, Log: d.log.Named("ike")})
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

func (r *ikeRuntime) handle(msg []byte, from netip.AddrPort, local uint16) {
	r.engine.HandleMessage(msg, from, local)
}

func (r *ikeRuntime) acquire(p *esp.Policy) { r.engine.Acquire(p) }

// stop ends the engine: Deletes for every SA go out before the sockets close.
func (r *ikeRuntime) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		zap.L().Warn("IKE engine did not stop within 10 s")
	}
}

func (r *ikeRuntime) manages(conn string) bool { return r.conns[conn] }

func (r *ikeRuntime) command(cmd, conn, child string) error {
	names := []string{""}
	if child != "" {
		names = r.pairs[conn+"/"+child]
	}
	for _, n := range names {
		var err error
		switch cmd {
		case "initiate":
			err = r.engine.Initiate(conn, n)
		case "terminate":
			err = r.engine.Terminate(conn)
		case "rekey":
			err = r.engine.Rekey(conn, n)
		}
		if err != nil {
			return err
		}
		if cmd == "terminate" {
			break
		}
	}
	return nil
}

func (r *ikeRuntime) counters() map[string]uint64 { return r.engine.Counters() }

func until(t *time.Time) string {
	if t == nil {
		return ""
	}
	return time.Until(*t).Round(time.Second).String()
}

// fillStatus adds the engine's IKE and child SAs to a connection's status.
func (r *ikeRuntime) fillStatus(cs *connStatus, d *daemon) {
	for _, s := range r.engine.Status() {
		if s.Name != cs.Name {
			continue
		}
		state := "connecting"
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
			nat := strings.Join(facts, ", ")
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
				Algorithms: fmt.Sprintf("%s-%s-%s", sa.Encryption, sa.Hash, sa.DHGroup),
				Auth:       sa.Auth, NAT: nat, Established: est, Expires: until(sa.ReauthAt), DPD: dpd,
			})
		}
		if len(s.IKESAs) > 0 {
			cs.State = state
		}
		for _, ch := range s.Children {
			idx := -1
			for i := range cs.Children {
				if cs.Children[i].Name == baseChildName(ch.Name, cs, d) {
					idx = i
				}
			}
			if idx < 0 {
				continue
			}
			st := &cs.Children[idx]
			st.State = ch.State
			st.PFS = ch.PFSGroup
			var b *esp.Binding
			if ch.OutSA != nil {
				for _, cr := range d.children {
					if bb := cr.policy.Binding(); bb != nil && bb.SA == ch.OutSA {
						b = bb
					}
				}
			}
			exp := time.Time{}
			if ch.RekeyAt != nil {
				exp = *ch.RekeyAt
			}
			if ch.InSA != nil {
				st.SAs = append(st.SAs, saReport(ch.InSA, nil, exp))
			}
			if ch.OutSA != nil {
				st.SAs = append(st.SAs, saReport(ch.OutSA, b, exp))
			}
		}
	}
}

// baseChildName maps an engine child name ("lan" or "lan.2") to the configured one.
func baseChildName(engineName string, cs *connStatus, d *daemon) string {
	for key, names := range d.ike.pairs {
		for _, n := range names {
			if n == engineName && len(key) > len(cs.Name) && key[:len(cs.Name)+1] == cs.Name+"/" {
				return key[len(cs.Name)+1:]
			}
		}
	}
	return engineName
}

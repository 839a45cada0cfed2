package ikev2

// The IKE SA (RFC 7296 §1, §2): its state, keys, roles and life cycle. init.go and auth.go
// hold the initial exchanges, child.go and rekey.go CREATE_CHILD_SA, informational.go the
// INFORMATIONAL exchange, messages.go the message IDs, window and retransmission.

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
	"oakley/ike/pki"
)

type saState int

const (
	stInitSent    saState = iota // initiator: IKE_SA_INIT request sent
	stInitDone                   // responder: IKE_SA_INIT answered, IKE_AUTH expected
	stAuthSent                   // initiator: IKE_AUTH request sent (and EAP, eap.go)
	stEAP                        // responder: IKE_AUTH with EAP in progress (eap.go)
	stEstablished                // authenticated (or created by a rekey)
	stRekeyed                    // a newer IKE SA replaced it (§2.8): it only deletes itself
	stDeleting                   // our Delete is on its way; the core has forgotten it
	stDead
)

var stateNames = map[saState]string{
	stInitSent: "IKE_SA_INIT sent", stInitDone: "IKE_SA_INIT answered", stAuthSent: "IKE_AUTH sent", stEAP: "EAP",
	stEstablished: "established", stRekeyed: "rekeyed", stDeleting: "deleting", stDead: "deleted",
}

func (s saState) String() string { return stateNames[s] }

// ikeTransform is the negotiated IKE SA proposal.
type ikeTransform struct {
	enc, integ, prf, dh *crypto.Algorithm
}

func (t ikeTransform) String() string {
	if t.enc == nil {
		return ""
	}
	s := t.enc.Name
	if t.integ != nil {
		s += "-" + t.integ.Name
	}
	return s + "-" + t.prf.Name + "-" + t.dh.Name
}

// ikeSA is one IKE SA. Owned by the core's goroutine; its shared state (connection, role,
// addresses, times, half-open entry, DPD) is the embedded core.SABase.
type ikeSA struct {
	core.SABase
	p          *Protocol
	spiI, spiR wire.SPI
	state      saState
	first      firstKey     // responder: how its IKE_SA_INIT request is indexed
	candidates []*core.Conn // responder: connections that may match before IDi is known

	// IKE_SA_INIT (init.go, nat.go, cookie.go).
	tr          ikeTransform
	dh          keyExchange
	ni, nr      []byte
	initReq     []byte // RealMessage1 of §2.15: our (initiator) or the peer's request
	initResp    []byte // RealMessage2
	cookie      []byte // initiator: the responder's COOKIE to echo
	initRetries int
	keys        *ikeKeys
	nat         natState
	peerHashes  []pki.HashAlg // SIGNATURE_HASH_ALGORITHMS the peer announced (RFC 7427 §4)
	peerSigHash bool          // the peer sent SIGNATURE_HASH_ALGORITHMS
	certReq     pki.CertRequest

	// IKE_AUTH (auth.go, authmethod.go).
	localID  *wire.Identification
	peerID   *wire.Identification
	peerCert *pki.Verified
	authDesc string // our method, for status
	first1   *childExchange
	eap      *eapState // the EAP run of IKE_AUTH (eap.go), nil without
	eapID    string    // gateway: the client's EAP identity once authenticated

	// Exchanges (messages.go).
	nextMID  uint32     // the Message ID of our next request
	peerMID  uint32     // the Message ID we expect in the peer's next request
	out      *request   // our request in flight (window size 1, §2.3)
	queue    []*request // our requests waiting for the window
	retrans  *core.Retransmitter
	replies  core.ReplyCache // responses to the peer's requests, by request hash
	lastResp [][]byte        // the response to the peer's last request (MID peerMID-1), its fragments
	reasm    *wire.Reassembler
	frag     fragState   // RFC 7383 (fragsend.go)
	mob      mobikeState // RFC 4555 (mobike.go)

	// Rekeying (rekey.go, child.go).
	ikeRekey     *ikeRekey                       // our IKE SA rekey in flight
	passiveIKE   *passiveIKERekey                // an IKE SA rekey the peer made with us
	passiveChild map[*core.ChildSA]*passiveRekey // child rekeys the peer made with us
	ownRekeys    map[*core.ChildSA]*ownRekey     // our completed child rekeys, by old pair (child_crossed.go)
	answered     map[*core.ChildSA]answeredPair  // pairs the peer made with us, until it shows it has them (child_confirm.go)
	deferred     map[*core.ChildSA]bool          // our rekeys of such pairs, waiting (child_confirm.go)
	successor    *ikeSA                          // the IKE SA that replaced this one

	lifetime  time.Duration
	rekeyAt   time.Time
	expiresAt time.Time

	rekeyTimer  *core.Timer
	expireTimer *core.Timer
	keepalive   *core.Timer
	deleteTimer *core.Timer
	// forgotten confirms an INVALID_IKE_SPI hint to request forgottenReq (unknown.go): the
	// exchange is given up unless a valid answer came first.
	forgotten    *core.Timer
	forgottenReq *request
}

// Base gives the core the shared state (core.IKESA).
func (sa *ikeSA) Base() *core.SABase { return &sa.SABase }

func newIKESA(p *Protocol, initiator bool, now time.Time) *ikeSA {
	sa := &ikeSA{p: p, passiveChild: map[*core.ChildSA]*passiveRekey{}, ownRekeys: map[*core.ChildSA]*ownRekey{}, answered: map[*core.ChildSA]answeredPair{}, deferred: map[*core.ChildSA]bool{}}
	sa.Initiator = initiator
	sa.Created = now
	sa.retrans = p.NewRetransmitter(sa.dest, sa.retransmitGiveUp)
	sa.retrans.Transmit = sa.transmit
	sa.rekeyTimer = core.NewTimer("ike-rekey", sa.rekeyDue)
	sa.expireTimer = core.NewTimer("ike-expire", sa.hardExpired)
	sa.keepalive = core.NewTimer("keepalive", sa.sendKeepalive)
	sa.deleteTimer = core.NewTimer("ike-delete", func(now time.Time) {
		if sa.Retiring() { // else the core kept it after all (its replacement died first)
			sa.destroy(now, sa.state == stEstablished, fmt.Errorf("%w: replaced", ErrDeleted))
		}
	})
	sa.forgotten = core.NewTimer("ike-forgotten", sa.forgottenDue)
	sa.reasm = wire.NewReassembler(wire.ReassemblyLimits{}, func() time.Time { return p.Now })
	return sa
}

// newInitiatorSA starts an IKE SA towards a connection's peer.
func newInitiatorSA(p *Protocol, cs *core.Conn, now time.Time) *ikeSA {
	sa := newIKESA(p, true, now)
	sa.Conn = cs
	sa.spiI = p.newSPI()
	sa.Remote = netip.AddrPortFrom(cs.Cfg.RemoteAddr, cs.Cfg.RemoteIKEPort())
	sa.NATT = cs.Cfg.RemoteIKEPort() == cs.Cfg.RemoteNATTPortOf()
	sa.Local = cs.Cfg.LocalAddr
	sa.mobikeInitialLocal()
	sa.setLog()
	p.register(sa)
	return sa
}

// dest is where the SA's messages go: from our address, to the peer, on which port.
func (sa *ikeSA) dest() (netip.Addr, netip.AddrPort, bool) { return sa.Local, sa.Remote, sa.NATT }

// send sends a datagram of this SA to the peer.
func (sa *ikeSA) send(msg []byte) { sa.p.Send(msg, sa.Local, sa.Remote, sa.NATT) }

func (sa *ikeSA) ourSPI() wire.SPI {
	if sa.Initiator {
		return sa.spiI
	}
	return sa.spiR
}

func (sa *ikeSA) setLog() {
	f := []zap.Field{zap.Stringer("spi_i", sa.spiI), zap.Stringer("peer", sa.Remote)}
	if sa.Conn != nil {
		f = append(f, zap.String("conn", sa.Conn.Cfg.Name))
	}
	sa.Log = sa.p.Log.With(f...)
}

func (sa *ikeSA) setState(s saState) {
	sa.state = s
	sa.Log.Debug("IKE SA state", zap.Stringer("state", s))
}

func (sa *ikeSA) established() bool { return sa.state == stEstablished }

// cfg is the connection the SA uses: its own once chosen, else the first candidate.
func (sa *ikeSA) cfg() *core.Connection {
	if sa.Conn != nil {
		return sa.Conn.Cfg
	}
	if len(sa.candidates) > 0 {
		return sa.candidates[0].Cfg
	}
	return nil
}

// ourIP is our address towards the peer.
func (sa *ikeSA) ourIP() netip.Addr {
	if !sa.Local.IsValid() {
		sa.Local = sa.p.LocalAddrFor(sa.cfg(), sa.Remote.Addr())
	}
	return sa.Local
}

// ourPort is our IKE port for messages sent now.
func (sa *ikeSA) ourPort() uint16 {
	if sa.NATT {
		return sa.p.NATTPort
	}
	return sa.p.IKEPort
}

// establish completes the SA: lifetimes, keepalives, and the core's part (DPD, the
// connection's children). Rekeyed SAs come here too (rekey.go).
// A responder SA stays in firsts until it dies (forget): a copy of the IKE_SA_INIT request
// that arrives late (the network duplicated it) is then recognised, not taken for a new
// negotiation.
func (sa *ikeSA) establish(now time.Time) {
	sa.setState(stEstablished)
	sa.EstablishedAt = now
	sa.LastRecv = now
	// The core keeps one IKE SA per peer identity (uniqueids) by these: the authenticated
	// peer identity (inherited by a rekeyed SA) and the SPIs, which both ends see alike.
	sa.SPIKey = append(append([]byte(nil), sa.spiI[:]...), sa.spiR[:]...)
	if sa.peerID != nil {
		sa.PeerID = core.Identity{Type: core.IDType(sa.peerID.IDType), Data: append([]byte(nil), sa.peerID.Data...)}
	}
	if sa.localID != nil {
		sa.LocalID = core.Identity{Type: core.IDType(sa.localID.IDType), Data: append([]byte(nil), sa.localID.Data...)}
	}
	cfg := sa.Conn.Cfg
	// IKEv2 negotiates no lifetime (§2.8): each side rekeys at its own rekey_time (with
	// jitter, so both sides rarely start at once), before its own hard limit of rekey_time
	// + 10%. rekey_time = 0: never rekeyed, never expired.
	if life, rekey := cfg.Lifetime(); rekey {
		sa.lifetime = life
		sa.expiresAt = now.Add(sa.lifetime)
		sa.p.Timers.Arm(sa.expireTimer, sa.expiresAt)
		at := min(cfg.RekeyTime, sa.lifetime*9/10)
		sa.rekeyAt = now.Add(sa.p.Jitter(at, 0.05))
		sa.p.Timers.Arm(sa.rekeyTimer, sa.rekeyAt)
	}
	if sa.nat.local {
		sa.p.Timers.Arm(sa.keepalive, now.Add(core.KeepaliveEvery))
	}
	sa.startMOBIKE(now)
	sa.Log.Info("IKE SA established", zap.Bool("initiator", sa.Initiator), zap.Stringer("spi_r", sa.spiR),
		zap.String("proposal", sa.tr.String()), zap.String("remote_id", idString(sa.peerID)),
		zap.String("auth", sa.authDesc), zap.Bool("nat_local", sa.nat.local), zap.Bool("nat_remote", sa.nat.remote),
		zap.Bool("natt", sa.NATT), zap.Bool("mobike", sa.mob.on))
	sa.p.Established(now, sa)
}

// rekeyDue starts an IKE SA rekey (§2.8) at the SA's rekey time.
func (sa *ikeSA) rekeyDue(now time.Time) {
	if sa.state != stEstablished {
		return
	}
	sa.startIKERekey(now)
}

// hardExpired ends the SA at the end of its lifetime (rekey_time + 10%).
func (sa *ikeSA) hardExpired(now time.Time) {
	sa.Log.Info("IKE SA lifetime expired")
	sa.destroy(now, true, fmt.Errorf("%w: IKE SA", ErrExpired))
}

// sendKeepalive sends a NAT keepalive from the side behind the NAT (RFC 3948 §2.3, RFC 7296
// §2.23) every 20 s.
func (sa *ikeSA) sendKeepalive(now time.Time) {
	if sa.state != stEstablished || !sa.NATT {
		return
	}
	sa.p.SendKeepalive(sa.Local, sa.Remote)
	sa.p.Timers.Arm(sa.keepalive, now.Add(core.KeepaliveEvery))
}

// halfOpenExpired ends a responder SA that did not complete in time, or that the core
// evicted from a full half-open table.
func (sa *ikeSA) halfOpenExpired(now time.Time, evicted bool) {
	if sa.state != stInitDone && sa.state != stEAP {
		return
	}
	if sa.state == stEAP && sa.eap != nil && sa.eap.err != nil {
		// A refused EAP login whose client went silent: counted and logged as refused.
		sa.failIKE(now, sa.eap.err, false)
		return
	}
	// Debug, not info: a flood of spoofed first messages expires by the thousand (counted).
	sa.Log.Debug("IKE_SA_INIT responder gave up", zap.Bool("evicted", evicted))
	why := "expired"
	if evicted {
		why = "evicted by newer ones"
	}
	sa.destroy(now, false, fmt.Errorf("%w: half-open IKE SA %s", core.ErrForgotten, why))
}

// destroy ends the SA: its exchanges, the core's part (the children it owns go with it
// unless another SA adopts them), optionally a Delete to the peer (§1.4.1: deleting the IKE
// SA deletes its children), keys.
func (sa *ikeSA) destroy(now time.Time, sendDelete bool, reason error) {
	if sa.state == stDead || sa.state == stDeleting {
		return
	}
	wasEstablished := sa.state == stEstablished || sa.state == stRekeyed
	sa.abortExchanges(now, reason)
	sa.stopMOBIKE()
	for _, t := range []*core.Timer{sa.rekeyTimer, sa.expireTimer, sa.keepalive, sa.deleteTimer, sa.forgotten} {
		sa.p.Timers.Stop(t)
	}
	sa.p.Gone(now, sa, reason)
	if sendDelete && sa.keys != nil && wasEstablished && sa.sendDeleteIKE(now) {
		return // indexed until the peer answers the Delete (or stops answering)
	}
	sa.finish()
}

// finish forgets the SA and wipes its secrets.
func (sa *ikeSA) finish() {
	sa.p.forget(sa)
	sa.setState(stDead)
	sa.retrans.Stop()
	sa.p.Timers.Stop(sa.deleteTimer)
	sa.p.Timers.Stop(sa.forgotten)
	if sa.dh != nil {
		sa.dh.Wipe()
	}
	sa.keys.wipe()
	sa.eap.wipe()
	sa.reasm.Reset()
}

// ownedChildren returns the child SA pairs this IKE SA manages.
func (sa *ikeSA) ownedChildren() []*core.ChildSA { return sa.Conn.ChildrenOf(sa) }

// Core's view (core.IKESA).

// Delete ends the SA (core.IKESA).
func (sa *ikeSA) Delete(now time.Time, sendDelete bool, reason error) {
	sa.destroy(now, sendDelete, reason)
}

// DeleteLater deletes the SA (with a Delete to the peer) after d.
func (sa *ikeSA) DeleteLater(now time.Time, d time.Duration) {
	sa.p.Timers.Arm(sa.deleteTimer, now.Add(d))
}

// Rekey rekeys the IKE SA (core.IKESA; §2.8).
func (sa *ikeSA) Rekey(now time.Time) { sa.startIKERekey(now) }

// StartChild negotiates a child unit, or rekeys one of its pairs (core.IKESA; §1.3).
func (sa *ikeSA) StartChild(now time.Time, ch *core.ChildState, rekeyOf *core.ChildSA) {
	sa.startChild(now, ch, rekeyOf)
}

// SendDeleteChildren tells the peer pairs are gone: one INFORMATIONAL with a Delete per
// protocol listing our inbound SPIs (core.IKESA; §1.4.1).
func (sa *ikeSA) SendDeleteChildren(now time.Time, pairs []*core.ChildSA) {
	var espSPIs, ahSPIs []uint32
	for _, c := range pairs {
		if c.Unit().Proto == esp.AH {
			ahSPIs = append(ahSPIs, c.InSPI())
		} else {
			espSPIs = append(espSPIs, c.InSPI())
		}
	}
	sa.sendDeleteChildren(now, espSPIs, ahSPIs)
}

// SendLiveness sends an empty INFORMATIONAL request (core.IKESA; §2.4).
func (sa *ikeSA) SendLiveness(now time.Time) bool { return sa.sendLiveness(now) }

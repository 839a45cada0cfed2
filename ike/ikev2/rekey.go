package ikev2

// Rekeying the IKE SA (RFC 7296 §1.3.2, §2.8, §2.18):
//
//	HDR, SK {SA, Ni, KEi}  -->
//	                   <--  HDR, SK {SA, Nr, KEr}
//
// The SA payload carries the new SA's SPI of each side; SKEYSEED = prf(SK_d (old), g^ir
// (new) | Ni | Nr). The children move to the new IKE SA (core.ChildSA.SetIKE), requests
// still waiting move with them, and the initiator of the rekey deletes the old SA.
//
// Collisions (§2.8.2): when both sides rekey at once each answers the other, so two new SAs
// exist. The one made by the exchange with the lowest of the four nonces is redundant: its
// initiator deletes it, and the other side, whose SA survives, deletes the old one. While
// our rekey is in flight, the SA the peer made is kept aside until ours completes and the
// nonces decide. A child exchange of the peer's during our rekey, or a rekey of the peer's
// during one of our child exchanges, is answered TEMPORARY_FAILURE (§2.25).

import (
	"bytes"
	"errors"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// ikeRekey is our IKE SA rekey in flight.
type ikeRekey struct {
	old     *ikeSA
	spi     wire.SPI
	ni      []byte
	dh      keyExchange
	offered []wire.Proposal
	req     *request
	retries int
	done    bool
}

// passiveIKERekey is the new IKE SA of a rekey the peer made while ours was in flight.
type passiveIKERekey struct {
	sa     *ikeSA
	ni, nr []byte
}

// startIKERekey queues a rekey of the IKE SA.
func (sa *ikeSA) startIKERekey(now time.Time) {
	if sa.state != stEstablished || sa.ikeRekey != nil {
		return
	}
	r := &ikeRekey{old: sa}
	sa.ikeRekey = r
	r.req = &request{exch: wire.ExchangeCreateChildSA, what: "CREATE_CHILD_SA (IKE rekey)", build: r.build, onResp: r.response, onFail: r.failed}
	sa.Log.Info("rekeying IKE SA")
	sa.enqueue(now, r.req)
}

func (r *ikeRekey) build(now time.Time) ([]wire.Payload, error) {
	sa := r.old
	if r.dh == nil {
		var err error
		if r.dh, err = sa.p.newDH(sa.tr.dh.Group); err != nil {
			return nil, err
		}
	}
	if r.spi.IsZero() {
		r.spi = sa.p.newSPI()
	}
	r.ni = sa.p.newNonce()
	r.offered = offer(wire.ProtoIKE, ikeProps(sa.Conn.Cfg), r.spi[:], false)
	return []wire.Payload{&wire.SA{Proposals: r.offered}, &wire.Nonce{Data: r.ni},
		&wire.KeyExchange{Group: r.dh.Group(), Data: r.dh.Public()}}, nil
}

func (r *ikeRekey) response(now time.Time, m *wire.Message) error {
	sa := r.old
	c := m.Inner
	for _, n := range c.Notifies() {
		if n.NotifyType == wire.NotifyInvalidKEPayload {
			g, err := n.KEGroup()
			ok := false
			for _, a := range groupsOf(ikeProps(sa.Conn.Cfg)) {
				ok = ok || err == nil && a.Group == g
			}
			if ok && r.retries < maxInitRetries && g != r.dh.Group() {
				r.retries++
				r.dh.Wipe()
				if r.dh, err = sa.p.newDH(g); err == nil {
					r.req = &request{exch: wire.ExchangeCreateChildSA, what: r.req.what, build: r.build, onResp: r.response, onFail: r.failed}
					sa.enqueue(now, r.req)
					return nil
				}
			}
			r.failed(now, fail(0, ErrNoProposalChosen, "IKE rekey: peer asked for group %d", g))
			return errStop
		}
		if n.NotifyType.IsError() {
			sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
			r.failed(now, peerError(n))
			return errStop
		}
	}
	sap, _ := c.Find(wire.PayloadSA).(*wire.SA)
	nr, _ := c.Find(wire.PayloadNonce).(*wire.Nonce)
	ke, _ := c.Find(wire.PayloadKE).(*wire.KeyExchange)
	if sap == nil || nr == nil || ke == nil {
		r.failed(now, fail(0, ErrMalformed, "IKE rekey response without SA, Nr or KEr"))
		return errStop
	}
	ch, err := checkChoice(r.offered, sap, wire.ProtoIKE, 8)
	if err == nil && (ke.Group != r.dh.Group() || ch.dh.Group != ke.Group) {
		err = fail(0, ErrInvalidKE, "IKE rekey: KE of group %d for %s", ke.Group, ch.dh.Name)
	}
	if err == nil {
		err = checkNonce(nr.Data, ch.prf)
	}
	var n *ikeSA
	if err == nil {
		var spir wire.SPI
		copy(spir[:], ch.spi)
		n, err = sa.rekeyedSA(now, true, r.spi, spir, ch, r.ni, nr.Data, r.dh, ke.Data)
	}
	if err != nil {
		r.failed(now, err)
		return errStop
	}
	r.finish()
	sa.p.Ctr.Inc(core.CtrIKERekeys)
	if pr := sa.passiveIKE; pr != nil && pr.sa.state != stDead {
		sa.passiveIKE = nil
		if bytes.Compare(lowerNonce(r.ni, nr.Data), lowerNonce(pr.ni, pr.nr)) < 0 {
			sa.Log.Info("IKE SA rekey collision lost: deleting our redundant IKE SA", zap.Stringer("redundant_spi_i", n.spiI))
			n.sendDeleteIKE(now)
			sa.takeOver(now, pr.sa)
			return nil
		}
		sa.Log.Info("IKE SA rekey collision won: the peer deletes its redundant IKE SA")
		pr.sa.p.Timers.Arm(pr.sa.deleteTimer, now.Add(rekeyedSATimeout))
		pr.sa.setState(stRekeyed)
	}
	sa.takeOver(now, n)
	// §2.8: the initiator of the rekey deletes the old SA.
	sa.destroy(now, true, fail(0, ErrDeleted, "rekeyed"))
	return nil
}

func (r *ikeRekey) finish() {
	r.done = true
	if r.dh != nil {
		r.dh.Wipe()
	}
	if r.old.ikeRekey == r {
		r.old.ikeRekey = nil
	}
}

// failed ends a rekey without a new SA; we try again in a while (before the SA expires), or
// at once if the peer had its own rekey accepted meanwhile.
func (r *ikeRekey) failed(now time.Time, err error) {
	if r.done {
		return
	}
	r.abort(now, err)
	sa := r.old
	sa.p.CountError(err)
	sa.Log.Warn("IKE SA rekey failed", zap.Error(err))
	if pr := sa.passiveIKE; pr != nil && pr.sa.state != stDead {
		sa.passiveIKE = nil
		sa.takeOver(now, pr.sa)
		return
	}
	if sa.state == stEstablished {
		delay := 30 * time.Second
		if errors.Is(err, ErrTemporary) {
			delay = retryTemporary + sa.p.Jitter(retryTemporary, 1)
		}
		if at := now.Add(delay); sa.expiresAt.IsZero() || at.Before(sa.expiresAt) {
			sa.p.Timers.Arm(sa.rekeyTimer, at)
		}
	}
}

func (r *ikeRekey) abort(now time.Time, err error) {
	if r.done {
		return
	}
	r.req.aborted = true
	r.finish()
}

// rekeyedSA makes the new IKE SA of a rekey (§2.18): the new SPIs, the chosen transforms,
// keys from the old SK_d and the new DH secret; it inherits the old SA's peer, identities
// and NAT state. initiator: we initiated the rekey (and so the new SA).
func (sa *ikeSA) rekeyedSA(now time.Time, initiator bool, spii, spir wire.SPI, ch *choice, ni, nr []byte, dh keyExchange, peerKE []byte) (*ikeSA, error) {
	gir, err := dh.SharedSecret(peerKE)
	if err != nil {
		return nil, fail(wire.NotifyInvalidSyntax, ErrInvalidKE, "IKE rekey: %v", err)
	}
	defer gir.Wipe()
	n := newIKESA(sa.p, initiator, now)
	n.Conn, n.spiI, n.spiR = sa.Conn, spii, spir
	n.Remote, n.Local, n.NATT = sa.Remote, sa.Local, sa.NATT
	n.tr = ikeTransform{enc: ch.enc, integ: ch.integ, prf: ch.prf, dh: ch.dh}
	n.ni, n.nr = append([]byte(nil), ni...), append([]byte(nil), nr...)
	n.nat, n.peerHashes, n.peerSigHash = sa.nat, sa.peerHashes, sa.peerSigHash
	n.frag.peer = sa.frag.peer
	n.mob = mobikeState{peer: sa.mob.peer, on: sa.mob.on, client: sa.mob.client}
	n.localID, n.peerID, n.peerCert, n.authDesc, n.eapID = sa.localID, sa.peerID, sa.peerCert, sa.authDesc, sa.eapID
	n.nextMID, n.peerMID = 0, 0
	prf, err := crypto.NewPRF(ch.prf)
	if err != nil {
		return nil, fail(wire.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
	}
	seed := rekeySKEYSEED(sa.keys.prf, sa.keys.skD, gir, ni, nr)
	defer seed.Wipe()
	k, err := deriveIKEKeys(prf, sa.keys.prf, seed, ni, nr, spii, spir, ch.enc, ch.integ)
	if err != nil {
		return nil, err
	}
	if err := n.installKeys(k); err != nil {
		return nil, err
	}
	n.setLog()
	n.setState(stEstablished) // not yet given to the core: takeOver does that
	n.EstablishedAt = time.Time{}
	sa.p.register(n)
	return n, nil
}

// takeOver makes n, a new IKE SA from a rekey of sa, the connection's SA: the children and
// the requests still waiting move to it, sa stops initiating anything.
func (sa *ikeSA) takeOver(now time.Time, n *ikeSA) {
	for _, csa := range sa.ownedChildren() {
		csa.SetIKE(n)
	}
	for _, r := range sa.queue {
		if r.rebind != nil && !r.aborted {
			r.rebind(n)
			n.queue = append(n.queue, r)
		}
	}
	sa.queue = nil
	sa.successor = n
	sa.p.TransferVirtualIPs(sa, n)
	sa.setState(stRekeyed)
	// The old SA is not a duplicate of n for the core's uniqueids: the rekey replaces it.
	sa.Retire()
	for _, t := range []*core.Timer{sa.rekeyTimer, sa.expireTimer, sa.keepalive} {
		sa.p.Timers.Stop(t)
	}
	// The old SA goes: deleted by us (initiator), by the peer (responder), or, if its
	// Delete never comes, locally after a while.
	sa.p.Timers.Arm(sa.deleteTimer, now.Add(rekeyedSATimeout))
	n.Log.Info("IKE SA rekeyed", zap.Stringer("old_spi_i", sa.spiI), zap.Stringer("old_spi_r", sa.spiR),
		zap.Stringer("spi_r", n.spiR), zap.String("proposal", n.tr.String()))
	n.establish(now)
	n.pump(now)
}

// respondIKERekey answers the peer's rekey of this IKE SA.
func (sa *ikeSA) respondIKERekey(now time.Time, c *wire.Chain, sap *wire.SA) ([]wire.Payload, func(time.Time)) {
	refuse := func(err error) ([]wire.Payload, func(time.Time)) {
		sa.p.CountError(err)
		sa.Log.Info("refusing the peer's IKE SA rekey", zap.Error(err))
		n, data := notifyOf(err)
		if n == 0 {
			n = wire.NotifyNoProposalChosen
		}
		return []wire.Payload{&wire.Notify{NotifyType: n, Data: data}}, nil
	}
	if sa.state != stEstablished {
		return refuse(&protoError{notify: wire.NotifyTemporaryFailure, err: fail(0, ErrTemporary, "the IKE SA is %s", sa.state)})
	}
	if x := sa.out; x != nil && x.exch == wire.ExchangeCreateChildSA && (sa.ikeRekey == nil || x != sa.ikeRekey.req) {
		return refuse(&protoError{notify: wire.NotifyTemporaryFailure, err: fail(0, ErrTemporary, "a child exchange of ours is in flight")})
	}
	ke, _ := c.Find(wire.PayloadKE).(*wire.KeyExchange)
	ni, _ := c.Find(wire.PayloadNonce).(*wire.Nonce)
	if ke == nil || ni == nil {
		return refuse(fail(wire.NotifyInvalidSyntax, ErrMalformed, "IKE rekey without KEi or Ni"))
	}
	ch, err := selectProposal(ikeProps(sa.Conn.Cfg), sap.Proposals, selectOpts{proto: wire.ProtoIKE, preferGroup: ke.Group, insecure: sa.Conn.Cfg.InsecureAlgorithms})
	if err != nil {
		return refuse(err)
	}
	if len(ch.spi) != 8 {
		return refuse(fail(wire.NotifyInvalidSyntax, ErrMalformed, "IKE rekey proposal with a %d-byte SPI", len(ch.spi)))
	}
	if ke.Group != ch.dh.Group {
		e := fail(wire.NotifyInvalidKEPayload, ErrInvalidKE, "IKE rekey: we want group %s", ch.dh.Name)
		e.data = []byte{byte(ch.dh.Group >> 8), byte(ch.dh.Group)}
		return refuse(e)
	}
	if err := checkNonce(ni.Data, ch.prf); err != nil {
		return refuse(err)
	}
	dh, err := sa.p.newDH(ch.dh.Group)
	if err != nil {
		return refuse(fail(wire.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err))
	}
	defer dh.Wipe()
	pub := dh.Public()
	nr := sa.p.newNonce()
	var spii wire.SPI
	copy(spii[:], ch.spi)
	n, err := sa.rekeyedSA(now, false, spii, sa.p.newSPI(), ch, ni.Data, nr, dh, ke.Data)
	if err != nil {
		return refuse(err)
	}
	resp := []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{{Number: ch.number, Protocol: wire.ProtoIKE, SPI: n.spiR[:], Transforms: ch.transforms(wire.ProtoIKE)}}},
		&wire.Nonce{Data: nr}, &wire.KeyExchange{Group: ch.dh.Group, Data: pub},
	}
	return resp, func(now time.Time) {
		sa.p.Ctr.Inc(core.CtrIKERekeys)
		if r := sa.ikeRekey; r != nil {
			if sa.out == r.req {
				// Our rekey is in flight too: its response decides (§2.8.2).
				sa.Log.Info("IKE SA rekey collision: keeping the peer's new SA aside until ours completes")
				sa.passiveIKE = &passiveIKERekey{sa: n, ni: append([]byte(nil), ni.Data...), nr: nr}
				return
			}
			r.abort(now, fail(0, ErrDeleted, "the peer rekeyed first"))
		}
		sa.takeOver(now, n)
	}
}

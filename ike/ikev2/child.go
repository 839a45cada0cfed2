package ikev2

// Child SAs as initiator (RFC 7296 §1.3.1, §1.3.3, §2.17): the first one rides in IKE_AUTH,
// more come with CREATE_CHILD_SA, and a rekey is a CREATE_CHILD_SA with N(REKEY_SA):
//
//	HDR, SK {[N(REKEY_SA),] SA, Ni, [KEi,] TSi, TSr, [N(USE_TRANSPORT_MODE)]}  -->
//	                        <--  HDR, SK {SA, Nr, [KEr,] TSi, TSr, [N(USE_TRANSPORT_MODE)]}
//
// KE (PFS) is sent when the child's proposals name a DH group, never in IKE_AUTH (§1.2). The
// initiator installs the pair when the response arrives and sends on it at once (the
// responder installed it before answering); the pair a rekey replaces is deleted a moment
// later (retireLater). child_responder.go is the other side.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// childExchange is one child negotiation we initiate. Owned by the core's goroutine.
type childExchange struct {
	sa       *ikeSA
	ch       *core.ChildState
	rekeyOf  *core.ChildSA
	inAuth   bool // the first child, in IKE_AUTH
	proto    wire.ProtocolID
	spiIn    uint32
	offered  []wire.Proposal
	ni       []byte
	dh       keyExchange
	localTS  []wire.TrafficSelector
	remoteTS []wire.TrafficSelector
	req      *request
	retries  int
	done     bool
	fresh    bool // replaces rekeyOf without REKEY_SA (peerLacks)
	log      *zap.Logger
}

func newChildExchange(sa *ikeSA, ch *core.ChildState, rekeyOf *core.ChildSA) *childExchange {
	x := &childExchange{sa: sa, ch: ch, rekeyOf: rekeyOf, proto: wire.ProtoESP}
	if ch.Proto == esp.AH {
		x.proto = wire.ProtoAH
	}
	x.log = sa.Log.With(zap.String("child", ch.Name()))
	return x
}

// startChild queues a CREATE_CHILD_SA for a unit (a new pair, or a rekey of rekeyOf).
func (sa *ikeSA) startChild(now time.Time, ch *core.ChildState, rekeyOf *core.ChildSA) {
	sa.startChildExchange(now, ch, rekeyOf, false)
}

// startChildExchange is startChild; fresh: a new pair that replaces rekeyOf without naming
// it (no REKEY_SA: the peer does not know it).
func (sa *ikeSA) startChildExchange(now time.Time, ch *core.ChildState, rekeyOf *core.ChildSA, fresh bool) {
	if sa.state == stRekeyed && sa.successor != nil {
		sa.successor.startChildExchange(now, ch, rekeyOf, fresh)
		return
	}
	if !sa.established() || ch.Pending != nil {
		return
	}
	if rekeyOf != nil && sa.passiveChild[rekeyOf] != nil {
		return // the peer rekeyed it already; its new pair takes over
	}
	if rekeyOf != nil && !fresh && sa.peerMayLack(now, rekeyOf) {
		sa.deferRekey(now, ch, rekeyOf) // the peer may not have it yet (child_confirm.go)
		return
	}
	x := newChildExchange(sa, ch, rekeyOf)
	x.fresh = fresh
	ch.Pending = x
	x.req = &request{exch: wire.ExchangeCreateChildSA, what: "CREATE_CHILD_SA", build: x.build, onResp: x.response, onFail: x.failed, rebind: x.rebind}
	if rekeyOf != nil {
		x.req.what = "CREATE_CHILD_SA (rekey)"
	}
	sa.enqueue(now, x.req)
}

// rebind moves a waiting exchange to the IKE SA that replaced ours.
func (x *childExchange) rebind(n *ikeSA) {
	x.sa = n
	x.log = n.Log.With(zap.String("child", x.ch.Name()))
}

// build returns the CREATE_CHILD_SA request when it leaves (on the SA it leaves from: an
// IKE SA rekey may have moved the request to the new SA).
func (x *childExchange) build(now time.Time) ([]wire.Payload, error) {
	if x.rekeyOf != nil && !x.rekeyOf.Current() {
		return nil, fmt.Errorf("%w: the pair to rekey was replaced or deleted", ErrDeleted)
	}
	return x.requestPayloads(now)
}

// requestPayloads builds the child part of a request (IKE_AUTH or CREATE_CHILD_SA).
func (x *childExchange) requestPayloads(now time.Time) ([]wire.Payload, error) {
	sa, ch := x.sa, x.ch
	if x.spiIn == 0 {
		spi, err := sa.p.DP.AllocSPI(sa.p.Rand)
		if err != nil {
			return nil, fmt.Errorf("%w: allocating an SPI: %v", ErrInstall, err)
		}
		x.spiIn = spi
	}
	withKE := !x.inAuth && len(groupsOf(ch.Props)) > 0
	spi := binary.BigEndian.AppendUint32(nil, x.spiIn)
	x.offered = offer(x.proto, ch.Props, spi, withKE)
	if len(x.offered) == 0 {
		return nil, fail(0, ErrNoProposalChosen, "child %q has no usable proposal", ch.Cfg.Name)
	}
	x.localTS, x.remoteTS = sa.childTS(ch)
	var out []wire.Payload
	if x.rekeyOf != nil && !x.fresh {
		out = append(out, wire.NewChildNotify(x.proto, x.rekeyOf.InSPI(), wire.NotifyRekeySA, nil))
	}
	if ch.Mode() == esp.Transport {
		out = append(out, wire.NewNotify(wire.NotifyUseTransportMode, nil))
	}
	out = append(out, &wire.SA{Proposals: x.offered})
	if !x.inAuth {
		x.ni = sa.p.newNonce()
		out = append(out, &wire.Nonce{Data: x.ni})
		if withKE {
			if x.dh == nil {
				var err error
				g := groupsOf(ch.Props)[0]
				if x.dh, err = sa.p.newDH(g.Group); err != nil {
					return nil, fmt.Errorf("%w: PFS group %s: %v", ErrNoProposalChosen, g.Name, err)
				}
			}
			out = append(out, &wire.KeyExchange{Group: x.dh.Group(), Data: x.dh.Public()})
		}
	}
	out = append(out, &wire.TrafficSelectors{Selectors: x.localTS}, &wire.TrafficSelectors{Responder: true, Selectors: x.remoteTS})
	x.log.Info("initiating CHILD_SA", zap.String("proposals", proposalsText(ch.Props)), zap.Bool("rekey", x.rekeyOf != nil),
		zap.Bool("in_ike_auth", x.inAuth), zap.String("local_ts", tsString(x.localTS)), zap.String("remote_ts", tsString(x.remoteTS)))
	return out, nil
}

// childTS are a unit's selectors, or the endpoints in transport mode without any.
func (sa *ikeSA) childTS(ch *core.ChildState) (local, remote []wire.TrafficSelector) {
	local, remote = toTS(ch.LocalTS), sa.leaseTS(toTS(ch.RemoteTS))
	if len(local) == 0 {
		local = []wire.TrafficSelector{hostTS(sa.ourIP())}
	}
	if len(remote) == 0 {
		remote = []wire.TrafficSelector{hostTS(sa.Remote.Addr())}
	}
	return local, remote
}

// response handles the CREATE_CHILD_SA response.
func (x *childExchange) response(now time.Time, m *wire.Message) error {
	c := m.Inner
	for _, n := range c.Notifies() {
		switch {
		case n.NotifyType == wire.NotifyInvalidKEPayload:
			return x.retryWithGroup(now, n)
		case n.NotifyType.IsError():
			x.sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
			x.failed(now, peerError(n))
			if n.NotifyType == wire.NotifyChildSANotFound && x.rekeyOf != nil {
				x.sa.peerLacks(now, x.ch, x.rekeyOf)
			}
			return errStop
		}
	}
	x.complete(now, c)
	return nil
}

// peerLacks handles CHILD_SA_NOT_FOUND for our rekey of old: the peer does not know that
// pair (it deleted it, or has not yet processed the answer that made it). As strongSwan does,
// a new pair is negotiated (without REKEY_SA) to replace it, and the old one is deleted,
// with a Delete, once the new one is in use. Before, the pair stayed and every rekey of it
// failed again. Removing it at once without a Delete would be wrong when the peer merely
// lags: it would install the pair later, and send on it.
func (sa *ikeSA) peerLacks(now time.Time, ch *core.ChildState, old *core.ChildSA) {
	if !old.Current() || ch.Pending != nil || !sa.established() {
		return
	}
	old.Logger().Info("the peer does not know this CHILD_SA (CHILD_SA_NOT_FOUND): negotiating a new one to replace it")
	sa.startChildExchange(now, ch, old, true)
}

// completeInAuth finishes the first child with the IKE_AUTH response: an error notification
// there refuses the child only (§1.2).
func (x *childExchange) completeInAuth(now time.Time, c *wire.Chain) {
	for _, n := range c.Notifies() {
		if n.NotifyType.IsError() {
			x.sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
			x.failed(now, peerError(n))
			return
		}
	}
	x.complete(now, c)
}

// retryWithGroup answers INVALID_KE_PAYLOAD in CREATE_CHILD_SA with the group asked for, if
// our proposals name it (§1.3).
func (x *childExchange) retryWithGroup(now time.Time, n *wire.Notify) error {
	g, err := n.KEGroup()
	x.sa.p.Ctr.Inc(core.CtrInvalidKE)
	ok := false
	for _, a := range groupsOf(x.ch.Props) {
		ok = ok || err == nil && a.Group == g
	}
	if !ok || x.retries >= maxInitRetries || x.dh != nil && x.dh.Group() == g {
		x.failed(now, fail(0, ErrNoProposalChosen, "peer asked for PFS group %d with INVALID_KE_PAYLOAD, which the child does not offer", g))
		return errStop
	}
	x.retries++
	if x.dh != nil {
		x.dh.Wipe()
	}
	if x.dh, err = x.sa.p.newDH(g); err != nil {
		x.failed(now, fmt.Errorf("%w: PFS group %d: %v", ErrNoProposalChosen, g, err))
		return errStop
	}
	x.log.Info("peer asked for another PFS group (INVALID_KE_PAYLOAD); retrying", zap.Uint16("group", g))
	x.req = &request{exch: wire.ExchangeCreateChildSA, what: x.req.what, build: x.build, onResp: x.response, onFail: x.failed, rebind: x.rebind}
	x.sa.enqueue(now, x.req)
	return nil
}

// complete checks the responder's answer, derives the keys and installs the pair.
func (x *childExchange) complete(now time.Time, c *wire.Chain) {
	sa, ch := x.sa, x.ch
	if x.done {
		return
	}
	sap, _ := c.Find(wire.PayloadSA).(*wire.SA)
	tsi, _ := c.Find(wire.PayloadTSi).(*wire.TrafficSelectors)
	tsr, _ := c.Find(wire.PayloadTSr).(*wire.TrafficSelectors)
	if sap == nil || tsi == nil || tsr == nil {
		x.failed(now, fail(0, ErrMalformed, "child answer without SA, TSi or TSr"))
		return
	}
	ch0, err := checkChoice(x.offered, sap, x.proto, 4)
	if err != nil {
		x.failed(now, err)
		return
	}
	spiOut := binary.BigEndian.Uint32(ch0.spi)
	ni, nr := sa.ni, sa.nr
	var gir crypto.Key
	if !x.inAuth {
		n, _ := c.Find(wire.PayloadNonce).(*wire.Nonce)
		if n == nil || checkNonce(n.Data, sa.tr.prf) != nil {
			x.failed(now, fail(0, ErrMalformed, "CREATE_CHILD_SA response without a valid Nr"))
			return
		}
		ni, nr = x.ni, n.Data
		if x.dh != nil {
			ke, _ := c.Find(wire.PayloadKE).(*wire.KeyExchange)
			if ke == nil || ch0.dh == nil || ke.Group != x.dh.Group() || ch0.dh.Group != ke.Group {
				x.failed(now, fail(0, ErrInvalidKE, "PFS: the response has no KE of group %d", x.dh.Group()))
				return
			}
			if gir, err = x.dh.SharedSecret(ke.Data); err != nil {
				x.failed(now, fail(0, ErrInvalidKE, "PFS: %v", err))
				return
			}
			defer gir.Wipe()
		}
	}
	if !allWithin(tsi.Selectors, x.localTS) || !allWithin(tsr.Selectors, x.remoteTS) {
		x.failed(now, fail(0, ErrInvalidID, "the responder's selectors %s === %s are not within ours %s === %s",
			tsString(tsi.Selectors), tsString(tsr.Selectors), tsString(x.localTS), tsString(x.remoteTS)))
		return
	}
	local, ok1 := toSelectors(tsi.Selectors)
	remote, ok2 := toSelectors(tsr.Selectors)
	if !ok1 || !ok2 {
		x.failed(now, fail(0, ErrInvalidID, "unusable traffic selectors %s === %s", tsString(tsi.Selectors), tsString(tsr.Selectors)))
		return
	}
	transport := hasNotify(c, wire.NotifyUseTransportMode)
	if ch.Mode() == esp.Transport && !transport {
		x.failed(now, fail(0, ErrNoProposalChosen, "the responder refused transport mode"))
		sa.sendDeleteChildren(now, []uint32{x.spiIn}, nil)
		return
	}
	p := childParams{initiator: true, spiIn: x.spiIn, spiOut: spiOut, choice: ch0, ni: ni, nr: nr, gir: gir,
		local: local, remote: remote, rekeyOf: x.rekeyOf}
	csa, err := sa.installChild(now, ch, p)
	if err != nil {
		x.failed(now, err)
		return
	}
	x.finish()
	if x.rekeyOf != nil && sa.childCollisionLost(now, x, nr, csa) {
		return
	}
	csa.Activate(now)
	csa.Established(now)
	if x.rekeyOf != nil {
		sa.p.Ctr.Inc(core.CtrChildRekeys)
		sa.recordOwnRekey(x.rekeyOf, &ownRekey{newPair: csa, ni: ni, nr: nr, retire: sa.retireLater(now, x.rekeyOf)})
	}
}

// retireLater deletes the pair a rekey of ours replaced (§2.8: the initiator of the rekey
// deletes the old SA), core.RekeyGrace after we switched to the new one. Its inbound SA stays
// installed until the peer answers the Delete: the peer may send on the old pair until it
// processes the Delete (strongSwan switches then), and those packets arrive before the
// answer.
func (sa *ikeSA) retireLater(now time.Time, old *core.ChildSA) *retirement {
	ret := &retirement{}
	ret.timer = core.NewTimer("child-retire", func(now time.Time) {
		if !old.Alive() || old.Current() {
			return
		}
		cur, _ := old.IKE().(*ikeSA)
		for cur != nil && cur.state == stRekeyed && cur.successor != nil {
			cur = cur.successor
		}
		if cur == nil || cur.state != stEstablished {
			old.Remove(now, false, fail(0, ErrDeleted, "rekeyed"))
			return
		}
		spi, proto := old.InSPI(), protoOf(old)
		done := func(now time.Time) { old.Remove(now, false, fail(0, ErrDeleted, "rekeyed")) }
		cur.p.Ctr.Inc(core.CtrDeletesOut)
		ret.req = &request{exch: wire.ExchangeInformational, what: "INFORMATIONAL (Delete rekeyed child)",
			build: func(time.Time) ([]wire.Payload, error) {
				return []wire.Payload{&wire.Delete{Protocol: proto, SPIs: []uint32{spi}}}, nil
			},
			onResp: func(now time.Time, _ *wire.Message) error { done(now); return nil },
			onFail: func(now time.Time, _ error) { done(now) },
			rebind: func(*ikeSA) {},
		}
		cur.enqueue(now, ret.req)
	})
	sa.p.Timers.Arm(ret.timer, now.Add(core.RekeyGrace))
	return ret
}

// retirement is the deletion of a pair a rekey of ours replaced: the timer that starts it
// and, once it started, its Delete request.
type retirement struct {
	timer *core.Timer
	req   *request
}

// left reports whether the Delete has been sent (it may have reached the peer).
func (r *retirement) left() bool { return r.req != nil && r.req.sent }

// cancel stops the deletion if its Delete has not been sent.
func (r *retirement) cancel(timers *core.Timers) {
	timers.Stop(r.timer)
	if r.req != nil && !r.req.sent {
		r.req.aborted = true
	}
}

// finish ends the exchange successfully.
func (x *childExchange) finish() {
	x.done = true
	if x.dh != nil {
		x.dh.Wipe()
	}
	if x.ch.Pending == core.Negotiation(x) {
		x.ch.Pending = nil
	}
}

// failed ends the exchange with an error: log, count, the unit learns why.
func (x *childExchange) failed(now time.Time, err error) {
	if x.done {
		return
	}
	x.sa.p.CountError(err)
	x.sa.p.Ctr.Inc(core.CtrChildFailed)
	x.log.Warn("CHILD_SA failed", zap.Bool("rekey", x.rekeyOf != nil), zap.Error(err))
	x.abort(now, err)
}

// Abort ends the exchange without telling the peer (core.Negotiation).
func (x *childExchange) Abort(now time.Time, err error) { x.abort(now, err) }

func (x *childExchange) abort(now time.Time, err error) {
	if x.done {
		return
	}
	x.done = true
	if x.req != nil {
		x.req.aborted = true
	}
	if x.spiIn != 0 && x.sa.p.ChildByInboundSPI(x.spiIn) == nil {
		x.sa.p.DP.ReleaseSPI(x.spiIn)
	}
	if x.dh != nil {
		x.dh.Wipe()
	}
	if x.ch.Pending == core.Negotiation(x) {
		x.ch.Pending = nil
		x.ch.Failed(now, err)
		switch {
		case errors.Is(err, ErrTemporary):
			x.sa.retryChildLater(now, x.ch, x.rekeyOf)
		case x.rekeyOf != nil && x.rekeyOf.Current():
			x.rekeyOf.RekeyFailed(now)
		}
	}
}

// retryChildLater tries a child (or a rekey) again a moment after the peer answered
// TEMPORARY_FAILURE (§2.25: it was busy rekeying, or a collision).
func (sa *ikeSA) retryChildLater(now time.Time, ch *core.ChildState, rekeyOf *core.ChildSA) {
	t := core.NewTimer("child-retry", func(now time.Time) {
		// The child's own IKE SA (or its successor after an IKE rekey): a multi-peer
		// connection's other SAs are other peers'.
		var cur core.IKESA = sa
		if !sa.established() && (sa.state != stRekeyed || sa.successor == nil) {
			cur = ch.Conn.Current()
		}
		if cur == nil || ch.Pending != nil {
			return
		}
		if rekeyOf != nil && rekeyOf.Current() || rekeyOf == nil && ch.Want && ch.Newest() == nil {
			cur.StartChild(now, ch, rekeyOf)
		}
	})
	sa.p.Timers.Arm(t, now.Add(retryTemporary+sa.p.Jitter(retryTemporary, 1)))
}

// childParams is what an exchange negotiated for a pair, from either side.
type childParams struct {
	initiator     bool // we initiated the exchange that made the pair
	spiIn, spiOut uint32
	choice        *choice
	ni, nr        []byte
	gir           []byte
	local, remote []esp.Selector
	rekeyOf       *core.ChildSA // initiator: the pair this one replaces (deleted by us)
}

// installChild derives KEYMAT (§2.17) and has the core install the pair; the inbound SA
// takes traffic at once.
func (sa *ikeSA) installChild(now time.Time, ch *core.ChildState, p childParams) (*core.ChildSA, error) {
	c := p.choice
	encLen, integLen := 0, 0
	if c.enc != nil && ch.Proto != esp.AH {
		encLen = c.enc.KeyLen()
	}
	if c.integ != nil {
		integLen = c.integ.KeyBits / 8
	}
	ei, ai, er, ar, err := childKeymat(sa.keys.prf, sa.keys.skD, p.gir, p.ni, p.nr, encLen, integLen)
	if err != nil {
		return nil, err
	}
	encIn, integIn, encOut, integOut := er, ar, ei, ai
	if !p.initiator {
		encIn, integIn, encOut, integOut = ei, ai, er, ar
	}
	encap, peer := sa.childEncap()
	life, _ := ch.Cfg.Lifetime()
	params := core.ChildParams{
		IKE: sa, Initiator: p.initiator, Mode: ch.Mode(), InSPI: p.spiIn, OutSPI: p.spiOut,
		Enc: c.enc, Integ: c.integ, ESN: c.esn != nil && c.esn.ESN, PFS: c.dh,
		EncIn: encIn, IntegIn: integIn, EncOut: encOut, IntegOut: integOut,
		LocalTS: p.local, RemoteTS: p.remote, Encap: encap, Peer: peer, Local: sa.ourIP(),
		Life: life, LifeBytes: ch.Cfg.LifeBytes, Transform: c.String(), Detail: "IKEv2",
	}
	if ch.Proto == esp.AH {
		params.Enc = nil
	}
	// No params.RekeyOf: the core would delete the old pair itself, retiring its inbound SA
	// at once; retireLater keeps it until the peer answered the Delete.
	csa, err := ch.Install(now, params)
	if err != nil {
		return nil, err
	}
	return csa, nil
}

func hasNotify(c *wire.Chain, t wire.NotifyType) bool {
	for _, n := range c.Notifies() {
		if n.NotifyType == t {
			return true
		}
	}
	return false
}

// lowerNonce is the lower of an exchange's two nonces (§2.8.1 compares them).
func lowerNonce(a, b []byte) []byte {
	if bytes.Compare(a, b) < 0 {
		return a
	}
	return b
}

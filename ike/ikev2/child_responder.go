package ikev2

// Child SAs as responder (RFC 7296 §1.3, §2.9, §2.17, §2.25): choose the configured child by
// the proposed traffic selectors (or, for a rekey, the pair REKEY_SA names), a proposal,
// narrow the selectors, install the pair, and answer. The pair's inbound SA takes traffic at
// once; a new child sends at once, a rekeyed one when the initiator is seen using it, when
// the pair it replaces is deleted, or after outboundSwitchFallback. A refusal is a notification in the response:
// TS_UNACCEPTABLE, NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD, CHILD_SA_NOT_FOUND,
// TEMPORARY_FAILURE.

import (
	"bytes"
	"encoding/binary"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// passiveRekey is a rekey of one of our pairs the peer made with us: its new pair and the
// exchange's nonces, for collision handling (§2.8.1).
type passiveRekey struct {
	newPair *core.ChildSA
	ni, nr  []byte
}

// respondChild answers the child part of an IKE_AUTH or CREATE_CHILD_SA request. It returns
// the response payloads and what to run once they are sent (nil when nothing was made).
func (sa *ikeSA) respondChild(now time.Time, c *wire.Chain, inAuth bool) ([]wire.Payload, func(time.Time)) {
	sap, _ := c.Find(wire.PayloadSA).(*wire.SA)
	tsi, _ := c.Find(wire.PayloadTSi).(*wire.TrafficSelectors)
	tsr, _ := c.Find(wire.PayloadTSr).(*wire.TrafficSelectors)
	if inAuth && sap == nil && tsi == nil && tsr == nil {
		return nil, nil // no child requested (RFC 6023 childless)
	}
	refuse := func(err error) ([]wire.Payload, func(time.Time)) {
		sa.p.CountError(err)
		sa.p.Ctr.Inc(core.CtrChildFailed)
		sa.Log.Warn("CHILD_SA refused", zap.Bool("in_ike_auth", inAuth), zap.Error(err))
		n, data := notifyOf(err)
		if n == 0 {
			n = wire.NotifyNoProposalChosen
		}
		sa.p.Ctr.Inc(core.CtrErrorNotifiesOut)
		if n == wire.NotifyInvalidKEPayload {
			return []wire.Payload{wire.NewNotify(n, data)}, nil
		}
		return []wire.Payload{&wire.Notify{NotifyType: n, Data: data}}, nil
	}
	if sap == nil || tsi == nil || tsr == nil {
		return refuse(fail(wire.NotifyInvalidSyntax, ErrMalformed, "child request without SA, TSi or TSr"))
	}
	var (
		rekeyOf *core.ChildSA
		crossed *ownRekey // our completed rekey of rekeyOf (child_crossed.go)
	)
	for _, n := range c.Notifies() {
		if n.NotifyType != wire.NotifyRekeySA {
			continue
		}
		spi, ok := n.ChildSPI()
		if !ok {
			return refuse(fail(wire.NotifyInvalidSyntax, ErrMalformed, "REKEY_SA without an SPI"))
		}
		if rekeyOf = sa.pairByOutSPI(spi); rekeyOf == nil {
			if sa.childRequestInFlight() {
				// It may be the pair our own CREATE_CHILD_SA in flight makes: the peer
				// installed it, and its answer is still on its way to us (or lost, to be
				// retransmitted). CHILD_SA_NOT_FOUND would make it drop that pair (or
				// replace it) just before we install it; §2.25 lets us refuse for now.
				return refuse(&protoError{notify: wire.NotifyTemporaryFailure, err: fail(0, ErrTemporary, "REKEY_SA for SPI %08x, which our CREATE_CHILD_SA in flight may be making", spi)})
			}
			return refuse(&protoError{notify: wire.NotifyChildSANotFound, err: fail(0, ErrInvalidID, "REKEY_SA for SPI %08x, which we do not have", spi)})
		}
		if crossed = sa.crossedRekey(rekeyOf); crossed == nil && !rekeyOf.Current() {
			// Already replaced, and not by a rekey of ours still in use: §2.25 lets us
			// refuse for now.
			return refuse(&protoError{notify: wire.NotifyTemporaryFailure, err: fail(0, ErrTemporary, "REKEY_SA for SPI %08x, which was just rekeyed", spi)})
		}
	}
	transport := hasNotify(c, wire.NotifyUseTransportMode)
	var (
		ch         *core.ChildState
		local, rmt []wire.TrafficSelector
	)
	if rekeyOf != nil {
		ch = rekeyOf.Unit()
		ours, theirs := sa.childTS(ch)
		local, rmt = narrow(tsr.Selectors, ours), narrow(tsi.Selectors, theirs)
	} else {
		ch, local, rmt = sa.unitFor(tsi.Selectors, tsr.Selectors, transport)
	}
	if ch == nil || len(local) == 0 || len(rmt) == 0 {
		return refuse(fail(wire.NotifyTSUnacceptable, ErrInvalidID, "no child accepts %s === %s", tsString(tsi.Selectors), tsString(tsr.Selectors)))
	}
	proto := wire.ProtoESP
	if ch.Proto == esp.AH {
		proto = wire.ProtoAH
	}
	ke, _ := c.Find(wire.PayloadKE).(*wire.KeyExchange)
	opts := selectOpts{proto: proto, ignoreKE: inAuth, insecure: sa.Conn.Cfg.InsecureAlgorithms}
	if ke != nil {
		opts.preferGroup = ke.Group
	}
	ch0, err := selectProposal(ch.Props, sap.Proposals, opts)
	if err != nil {
		return refuse(err)
	}
	if len(ch0.spi) != 4 {
		return refuse(fail(wire.NotifyInvalidSyntax, ErrMalformed, "child proposal with a %d-byte SPI", len(ch0.spi)))
	}
	ni, nr := sa.ni, sa.nr
	var gir crypto.Key
	var kePub []byte
	if !inAuth {
		n, _ := c.Find(wire.PayloadNonce).(*wire.Nonce)
		if n == nil || checkNonce(n.Data, sa.tr.prf) != nil {
			return refuse(fail(wire.NotifyInvalidSyntax, ErrMalformed, "CREATE_CHILD_SA without a valid Ni"))
		}
		ni, nr = n.Data, sa.p.newNonce()
		if ch0.dh != nil {
			if ke == nil || ke.Group != ch0.dh.Group {
				e := fail(wire.NotifyInvalidKEPayload, ErrInvalidKE, "PFS: we want group %s", ch0.dh.Name)
				e.data = []byte{byte(ch0.dh.Group >> 8), byte(ch0.dh.Group)}
				return refuse(e)
			}
			dh, err := sa.p.newDH(ch0.dh.Group)
			if err != nil {
				return refuse(fail(wire.NotifyNoProposalChosen, ErrNoProposalChosen, "PFS group %s: %v", ch0.dh.Name, err))
			}
			defer dh.Wipe()
			if gir, err = dh.SharedSecret(ke.Data); err != nil {
				return refuse(fail(wire.NotifyInvalidSyntax, ErrInvalidKE, "PFS: %v", err))
			}
			defer gir.Wipe()
			kePub = dh.Public()
		}
	}
	if ch.Mode() == esp.Transport && !transport {
		return refuse(fail(wire.NotifyNoProposalChosen, ErrNoProposalChosen, "child %q is transport mode, the peer asked for tunnel mode", ch.Name()))
	}
	transport = transport && ch.Mode() == esp.Transport // §1.3.1: else we answer tunnel mode
	localSel, ok1 := toSelectors(local)
	remoteSel, ok2 := toSelectors(rmt)
	if !ok1 || !ok2 {
		return refuse(fail(wire.NotifyTSUnacceptable, ErrInvalidID, "unusable traffic selectors %s === %s", tsString(rmt), tsString(local)))
	}
	spiIn, err := sa.p.DP.AllocSPI(sa.p.Rand)
	if err != nil {
		return refuse(fail(wire.NotifyNoAdditionalSAs, ErrInstall, "allocating an SPI: %v", err))
	}
	csa, err := sa.installChild(now, ch, childParams{spiIn: spiIn, spiOut: binary.BigEndian.Uint32(ch0.spi), choice: ch0,
		ni: ni, nr: nr, gir: gir, local: localSel, remote: remoteSel})
	if err != nil {
		sa.p.DP.ReleaseSPI(spiIn)
		return refuse(fail(wire.NotifyNoProposalChosen, ErrInstall, "%v", err))
	}
	if rekeyOf != nil && crossed == nil {
		for o, pr := range sa.passiveChild {
			if !pr.newPair.Alive() {
				delete(sa.passiveChild, o) // childCollisionLost ignores it
			}
		}
		sa.passiveChild[rekeyOf] = &passiveRekey{newPair: csa, ni: ni, nr: nr}
		if x, ok := ch.Pending.(*childExchange); ok && x.rekeyOf == rekeyOf && x.req != nil && x.req.mid == 0 && sa.out != x.req {
			// Our own rekey of the same pair has not left yet: the peer's makes it moot.
			x.abort(now, fail(0, ErrDeleted, "the peer rekeyed the pair first"))
		}
	}
	resp := []wire.Payload{}
	if transport {
		resp = append(resp, wire.NewNotify(wire.NotifyUseTransportMode, nil))
	}
	resp = append(resp, &wire.SA{Proposals: []wire.Proposal{{Number: ch0.number, Protocol: proto,
		SPI: binary.BigEndian.AppendUint32(nil, spiIn), Transforms: ch0.transforms(proto)}}})
	if !inAuth {
		resp = append(resp, &wire.Nonce{Data: nr})
		if kePub != nil {
			resp = append(resp, &wire.KeyExchange{Group: ch0.dh.Group, Data: kePub})
		}
	}
	resp = append(resp, &wire.TrafficSelectors{Selectors: rmt}, &wire.TrafficSelectors{Responder: true, Selectors: local})
	return resp, func(now time.Time) {
		if crossed != nil {
			sa.settleCrossed(now, rekeyOf, crossed, csa, ni, nr)
			sa.answeredChild(now, csa)
			return
		}
		if rekeyOf == nil && !anyBound(ch) {
			// A new child: nothing else could carry the unit's traffic, so we send on it at
			// once (a packet that overtakes our response is lost, one held back would be too).
			csa.Activate(now)
		} else {
			csa.ActivateLater(now, outboundSwitchFallback)
		}
		csa.Established(now)
		sa.answeredChild(now, csa)
	}
}

// anyBound reports whether a unit's policy sends through one of its pairs.
func anyBound(ch *core.ChildState) bool {
	for _, x := range ch.SAs {
		if x.Bound() {
			return true
		}
	}
	return false
}

// unitFor chooses the configured child whose selectors overlap the proposed ones (first in
// configuration order) and the narrowed selectors (§2.9): TSi against our remote_ts, TSr
// against our local_ts.
func (sa *ikeSA) unitFor(tsi, tsr []wire.TrafficSelector, transport bool) (*core.ChildState, []wire.TrafficSelector, []wire.TrafficSelector) {
	for _, ch := range sa.Conn.Children {
		if (ch.Mode() == esp.Transport) != transport {
			continue
		}
		ours, theirs := sa.childTS(ch)
		local, remote := narrow(tsr, ours), narrow(tsi, theirs)
		if len(local) > 0 && len(remote) > 0 {
			return ch, local, remote
		}
	}
	return nil, nil, nil
}

// pairByOutSPI finds the pair of the SA's connection whose outbound SPI is spi (the SPI the
// peer receives on, which REKEY_SA and Delete name).
func (sa *ikeSA) pairByOutSPI(spi uint32) *core.ChildSA {
	if sa.Conn == nil {
		return nil
	}
	for _, ch := range sa.Conn.Children {
		for _, csa := range ch.SAs {
			if csa.OutSPI() == spi && csa.Alive() {
				return csa
			}
		}
	}
	return nil
}

// childCollisionLost handles a child rekey collision when our own rekey completes (§2.8.1):
// if the peer rekeyed the same pair with us, the new pair made with the lowest of the four
// nonces is redundant and its creator deletes it; the winner deletes the old pair. It
// reports whether we lost (our new pair is then already being deleted).
func (sa *ikeSA) childCollisionLost(now time.Time, x *childExchange, nr []byte, ours *core.ChildSA) bool {
	pr := sa.passiveChild[x.rekeyOf]
	if pr == nil || !pr.newPair.Alive() {
		return false
	}
	sa.p.Ctr.Inc(core.CtrRekeyCollisions)
	if !x.rekeyOf.Alive() {
		// The peer deleted the old pair before our answer came: it deleted it as the
		// winner of its rekey, whose pair it keeps (strongSwan decides a rekey/delete
		// collision so: the pair the deleting end made stays). The nonces no longer decide.
		x.log.Info("CHILD_SA rekey collision lost: the peer deleted the old pair first; deleting our redundant pair")
		ours.Remove(now, true, fail(0, ErrDeleted, "redundant after a rekey collision"))
		return true
	}
	mine, theirs := lowerNonce(x.ni, nr), lowerNonce(pr.ni, pr.nr)
	if bytes.Compare(mine, theirs) < 0 {
		x.log.Info("CHILD_SA rekey collision lost: deleting our redundant pair")
		ours.Remove(now, true, fail(0, ErrDeleted, "redundant after a rekey collision"))
		return true
	}
	x.log.Info("CHILD_SA rekey collision won: the peer deletes its redundant pair")
	delete(sa.passiveChild, x.rekeyOf)
	return false
}

// childRequestInFlight reports whether a CREATE_CHILD_SA of ours waits for its answer on sa.
func (sa *ikeSA) childRequestInFlight() bool {
	if sa.Conn == nil {
		return false
	}
	for _, ch := range sa.Conn.Children {
		if x, ok := ch.Pending.(*childExchange); ok && x.sa == sa && !x.done && !x.inAuth {
			return true
		}
	}
	return false
}

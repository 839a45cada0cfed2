package ikev2

// INFORMATIONAL exchanges (RFC 7296 §1.4, §1.5, §2.4, §2.21, §3.10, §3.11): Deletes of the
// IKE SA and of child SAs, the empty request that is a liveness check, and notifications.
// Status notifications that matter after IKE_AUTH (INITIAL_CONTACT, §2.4) are handled here
// too.

import (
	"time"

	"go.uber.org/zap"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// handleInformational answers the peer's INFORMATIONAL request.
func (sa *ikeSA) handleInformational(now time.Time, m *wire.Message) ([]wire.Payload, func(time.Time)) {
	c := m.Inner
	var resp []wire.Payload
	var after func(time.Time)
	var espIn, ahIn []uint32
	for _, p := range c.Payloads {
		switch p := p.(type) {
		case *wire.Delete:
			sa.p.Ctr.Inc(core.CtrDeletesIn)
			switch p.Protocol {
			case wire.ProtoIKE:
				// §1.4.1: the IKE SA and every child it manages; the answer is empty.
				sa.Log.Info("peer deleted the IKE SA")
				return []wire.Payload{}, func(now time.Time) { sa.destroy(now, false, fail(0, ErrDeleted, "peer sent Delete")) }
			case wire.ProtoESP, wire.ProtoAH:
				for _, spi := range p.SPIs {
					csa := sa.pairByOutSPI(spi)
					if csa == nil || protoOf(csa) != p.Protocol {
						sa.Log.Debug("Delete for an unknown SPI", zap.Uint32("spi", spi))
						continue
					}
					// §1.4.1: we answer with our inbound SPI of the pair, and close it.
					if p.Protocol == wire.ProtoAH {
						ahIn = append(ahIn, csa.InSPI())
					} else {
						espIn = append(espIn, csa.InSPI())
					}
					csa.Remove(now, false, fail(0, ErrDeleted, "peer sent Delete"))
				}
			}
		case *wire.Notify:
			sa.handleNotify(now, p, &after)
		}
	}
	if len(espIn) > 0 {
		resp = append(resp, &wire.Delete{Protocol: wire.ProtoESP, SPIs: espIn})
	}
	if len(ahIn) > 0 {
		resp = append(resp, &wire.Delete{Protocol: wire.ProtoAH, SPIs: ahIn})
	}
	if resp == nil {
		resp = []wire.Payload{}
	}
	return resp, after
}

func protoOf(csa *core.ChildSA) wire.ProtocolID {
	if csa.Unit().Proto == esp.AH {
		return wire.ProtoAH
	}
	return wire.ProtoESP
}

// handleNotify acts on one notification of an INFORMATIONAL request: an error about the
// IKE SA ends it (the peer refused it, §2.21.2), other errors are logged.
func (sa *ikeSA) handleNotify(now time.Time, n *wire.Notify, after *func(time.Time)) {
	sa.p.Ctr.Inc(core.CtrNotifiesIn)
	if !n.NotifyType.IsError() {
		sa.Log.Debug("notification", zap.Stringer("type", n.NotifyType))
		return
	}
	sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
	err := peerError(n)
	if len(n.SPI) == 0 && (n.NotifyType == wire.NotifyAuthenticationFailed || n.NotifyType == wire.NotifyInvalidSyntax) {
		sa.Log.Warn("peer refused the IKE SA", zap.Error(err))
		*after = func(now time.Time) {
			for _, csa := range sa.ownedChildren() {
				csa.Remove(now, false, err)
			}
			sa.failIKE(now, err, false)
		}
		return
	}
	sa.Log.Warn("peer reported an error", zap.Error(err))
}

// processStatusNotifies handles the status notifications of IKE_AUTH: INITIAL_CONTACT
// (§2.4) deletes, locally, the other IKE SAs we have with the same peer identity.
func (sa *ikeSA) processStatusNotifies(now time.Time, c *wire.Chain) {
	if !hasNotify(c, wire.NotifyInitialContact) || sa.Conn == nil || sa.peerID == nil {
		return
	}
	for _, o := range append([]core.IKESA(nil), sa.Conn.IKEs()...) {
		other, ok := o.(*ikeSA)
		if !ok || other == sa || other.peerID == nil || other.state != stEstablished && other.state != stRekeyed ||
			other.peerID.IDType != sa.peerID.IDType || string(other.peerID.Data) != string(sa.peerID.Data) {
			continue
		}
		other.Log.Info("INITIAL_CONTACT: deleting the peer's stale IKE SA")
		for _, csa := range other.ownedChildren() {
			csa.Remove(now, false, fail(0, ErrDeleted, "INITIAL_CONTACT"))
		}
		other.destroy(now, false, fail(0, ErrDeleted, "INITIAL_CONTACT"))
	}
}

// sendLiveness queues an empty INFORMATIONAL request, the liveness check of §2.4, unless
// one is on its way already; its answer reaches the core's DPD (core.LivenessAck).
func (sa *ikeSA) sendLiveness(now time.Time) bool {
	if sa.state != stEstablished {
		return false
	}
	if sa.out != nil && sa.out.liveness {
		return true
	}
	for _, r := range sa.queue {
		if r.liveness {
			return true
		}
	}
	sa.enqueue(now, &request{exch: wire.ExchangeInformational, what: "INFORMATIONAL (liveness)", liveness: true,
		build: func(time.Time) ([]wire.Payload, error) { return sa.livenessNATD(), nil },
		onResp: func(now time.Time, m *wire.Message) error {
			sa.p.LivenessAck(now, sa)
			sa.natMappingCheck(now, m)
			return nil
		},
	})
	return true
}

// sendDeleteChildren queues an INFORMATIONAL with Deletes of our inbound SPIs (§1.4.1).
func (sa *ikeSA) sendDeleteChildren(now time.Time, espSPIs, ahSPIs []uint32) {
	if sa.state == stRekeyed && sa.successor != nil {
		sa.successor.sendDeleteChildren(now, espSPIs, ahSPIs)
		return
	}
	if sa.state != stEstablished || len(espSPIs)+len(ahSPIs) == 0 {
		return
	}
	var ds []wire.Payload
	if len(espSPIs) > 0 {
		ds = append(ds, &wire.Delete{Protocol: wire.ProtoESP, SPIs: espSPIs})
	}
	if len(ahSPIs) > 0 {
		ds = append(ds, &wire.Delete{Protocol: wire.ProtoAH, SPIs: ahSPIs})
	}
	sa.p.Ctr.Inc(core.CtrDeletesOut)
	r := &request{exch: wire.ExchangeInformational, what: "INFORMATIONAL (Delete child)",
		build:  func(time.Time) ([]wire.Payload, error) { return ds, nil },
		onResp: func(time.Time, *wire.Message) error { return nil },
	}
	r.rebind = func(*ikeSA) {}
	sa.enqueue(now, r)
}

// sendDeleteIKE sends the Delete of the IKE SA (§1.4.1) at once, with the next Message ID
// even if a request of ours is unanswered (the SA is going: waiting for the window would
// lose the Delete at shutdown), and retransmits it until the answer. The SA is then
// stDeleting: forgotten by the core, still indexed for the answer.
func (sa *ikeSA) sendDeleteIKE(now time.Time) bool {
	if sa.keys == nil {
		return false
	}
	raw, err := sa.encode(wire.ExchangeInformational, sa.nextMID, false, []wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}})
	if err != nil {
		return false
	}
	sa.out = &request{exch: wire.ExchangeInformational, what: "INFORMATIONAL (Delete IKE SA)", mid: sa.nextMID}
	sa.nextMID++
	sa.queue = nil
	sa.setState(stDeleting)
	sa.p.Ctr.Inc(core.CtrDeletesOut)
	sa.retrans.Start(now, sa.out.what, raw)
	return true
}

// sendErrorOnce tells the peer in one INFORMATIONAL request why we give up on the SA
// (§2.21.2: the initiator refusing the responder's AUTH), without waiting for an answer.
func (sa *ikeSA) sendErrorOnce(t wire.NotifyType, data []byte) {
	raw, err := sa.encode(wire.ExchangeInformational, sa.nextMID, false, []wire.Payload{&wire.Notify{NotifyType: t, Data: data}})
	if err != nil {
		return
	}
	sa.nextMID++
	sa.p.Ctr.Inc(core.CtrErrorNotifiesOut)
	sa.send(raw)
}

// handleCreateChild dispatches a CREATE_CHILD_SA request: an IKE SA rekey, or a child.
func (sa *ikeSA) handleCreateChild(now time.Time, m *wire.Message) ([]wire.Payload, func(time.Time)) {
	c := m.Inner
	sap, _ := c.Find(wire.PayloadSA).(*wire.SA)
	if sap != nil && len(sap.Proposals) > 0 && sap.Proposals[0].Protocol == wire.ProtoIKE {
		return sa.respondIKERekey(now, c, sap)
	}
	if sa.state != stEstablished || sa.ikeRekey != nil && sa.out == sa.ikeRekey.req {
		// §2.25: we are rekeying the IKE SA; the peer tries again on the new one.
		sa.Log.Debug("CREATE_CHILD_SA during an IKE SA rekey: TEMPORARY_FAILURE")
		sa.p.Ctr.Inc(core.CtrErrorNotifiesOut)
		return []wire.Payload{wire.NewNotify(wire.NotifyTemporaryFailure, nil)}, nil
	}
	return sa.respondChild(now, c, false)
}

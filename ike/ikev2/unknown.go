package ikev2

// Messages for IKE SAs one end no longer knows (RFC 7296 §1.5, §2.21.4). A responder that
// restarted, or that forgot a half-open IKE SA (expired, or evicted under a flood of
// IKE_SA_INIT requests), receives protected requests it cannot place. It answers each with
// an unprotected INVALID_IKE_SPI notification: same SPIs, same Message ID, the response flag
// set, rate-limited (an unauthenticated request can make us send, never store). The other
// end takes the answer as the hint it is: it cannot be authenticated, so the request stays
// in flight, and only if no valid answer follows within forgottenConfirm is the exchange
// given up (core.ErrForgotten: the peer forgot us; not an authentication failure) instead
// of retransmitting into the void for the whole schedule.

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

const (
	// unknownSPIRate and unknownSPIBurst bound INVALID_IKE_SPI answers per second.
	unknownSPIRate  = 20
	unknownSPIBurst = 20
	// forgottenConfirm is how long an INVALID_IKE_SPI hint waits for a valid answer to the
	// same request before the exchange is given up.
	forgottenConfirm = 2 * time.Second
)

// tokenBucket is a rate limit: rate tokens a second, at most burst saved.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) take(now time.Time, rate, burst float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// answerUnknownSPI answers a protected request for an IKE SA we do not know with
// INVALID_IKE_SPI (§2.21.4). Responses, IKE_SA_INIT and anything in the clear get nothing.
func (p *Protocol) answerUnknownSPI(now time.Time, d *core.Datagram, h wire.Header) {
	if h.IsResponse() || h.Exchange == wire.ExchangeIKESAInit ||
		(h.NextPayload != wire.PayloadSK && h.NextPayload != wire.PayloadSKF) {
		return
	}
	if !p.unknownSPI.take(now, unknownSPIRate, unknownSPIBurst) {
		p.Ctr.Inc(core.CtrInvalidSPILimited)
		return
	}
	flags := wire.FlagResponse
	if !h.FromInitiator() {
		flags |= wire.FlagInitiator // we answer in the role opposite to the sender's
	}
	m, err := wire.EncodeMessage(wire.Header{SPIi: h.SPIi, SPIr: h.SPIr, Exchange: h.Exchange, Flags: flags, MessageID: h.MessageID},
		[]wire.Payload{wire.NewNotify(wire.NotifyInvalidIKESPI, nil)})
	if err != nil {
		return
	}
	if len(m.Raw) > amplificationFactor*len(d.Raw) {
		p.Ctr.Inc(core.CtrAmplificationDrops)
		return
	}
	p.Ctr.Inc(core.CtrInvalidSPIOut)
	p.Ctr.Inc(core.CtrErrorNotifiesOut)
	local := d.Local.Addr()
	if local.IsUnspecified() {
		local = netipZero
	}
	p.Send(m.Raw, local, d.From, d.NATT)
}

// handlePlainResponse handles a response in the clear to our request r in flight: the only
// one a peer may send is INVALID_IKE_SPI (§2.21.4), a hint that it does not know the SA.
func (sa *ikeSA) handlePlainResponse(now time.Time, d *core.Datagram, r *request) {
	m, err := wire.DecodeMessage(d.Raw)
	if err != nil {
		sa.p.Ctr.Inc(core.CtrMalformed)
		sa.Log.Debug("undecodable unprotected response", zap.Error(err))
		return
	}
	invalidSPI := false
	for _, n := range m.Notifies() {
		if n.NotifyType == wire.NotifyInvalidIKESPI {
			invalidSPI = true
		}
	}
	if !invalidSPI {
		sa.p.Ctr.Inc(core.CtrUnprotectedDropped)
		sa.Log.Debug("unprotected response dropped", zap.Stringer("exchange", m.Header.Exchange))
		return
	}
	sa.p.Ctr.Inc(core.CtrInvalidSPIIn)
	sa.p.Ctr.Inc(core.CtrErrorNotifiesIn)
	if (sa.state != stAuthSent && sa.state != stEstablished) || r.aborted || sa.forgotten.Armed() {
		return
	}
	sa.Log.Info("the peer answered with INVALID_IKE_SPI: it does not know this IKE SA (restarted, or forgot it half-open); giving up unless a valid answer follows",
		zap.String("request", r.what), zap.Duration("wait", forgottenConfirm))
	sa.forgottenReq = r
	sa.p.Timers.Arm(sa.forgotten, now.Add(forgottenConfirm))
}

// forgottenDue: no valid answer followed the INVALID_IKE_SPI hint in time.
func (sa *ikeSA) forgottenDue(now time.Time) {
	r := sa.forgottenReq
	sa.forgottenReq = nil
	if r == nil || sa.out != r || r.aborted {
		return // answered after all, or the SA moved on
	}
	sa.peerForgot(now, r)
}

// peerForgot ends the exchange of request r, which the peer answered only with
// INVALID_IKE_SPI: before the SA is up the negotiation failed (the connection's retries
// start over with IKE_SA_INIT); afterwards the peer lost the SA (dpd_action applies).
func (sa *ikeSA) peerForgot(now time.Time, r *request) {
	err := fmt.Errorf("%w: the peer answered %s with INVALID_IKE_SPI and nothing valid within %s", core.ErrForgotten, r.what, forgottenConfirm)
	switch sa.state {
	case stAuthSent:
		sa.retrans.Stop()
		sa.failIKE(now, err, false)
	case stEstablished:
		sa.retrans.Stop()
		sa.out = nil
		if r.onFail != nil && !r.aborted {
			r.aborted = true
			r.onFail(now, err)
		}
		sa.Log.Warn("the peer lost the IKE SA: considering it dead", zap.String("request", r.what), zap.Error(err))
		sa.p.PeerDead(now, sa)
	}
}

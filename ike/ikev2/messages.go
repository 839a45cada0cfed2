package ikev2

// Message IDs, the window and reliability (RFC 7296 §2.1–§2.3): each side numbers its
// requests from 0; with a window of one, one request of ours is in flight at a time and is
// retransmitted until its response arrives (the others wait in a queue, built when they
// leave so they use the SA's state at that moment); the peer's requests are processed in
// Message ID order, and a retransmitted request is answered from the per-SA reply cache,
// only towards the address the SA knows. Protected messages are sealed and opened with the
// SK payload (§3.14) or, when the peer fragments, reassembled from SKF payloads (RFC 7383).

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// request is one exchange we initiate on the IKE SA.
type request struct {
	exch wire.ExchangeType
	what string
	// build returns the payloads when the request leaves (nil error); an error fails it.
	build func(now time.Time) ([]wire.Payload, error)
	// onResp handles the response (its Inner chain holds the payloads).
	onResp func(now time.Time, m *wire.Message) error
	// onFail runs when the request fails without a response: no answer, or the SA went.
	onFail func(now time.Time, err error)
	// rebind moves the request to the IKE SA that replaced this one (rekey.go); nil drops
	// it when the SA is rekeyed before it left.
	rebind   func(n *ikeSA)
	mid      uint32
	sent     bool // it left (mid alone does not say: a rekeyed IKE SA's first request has 0)
	liveness bool
	aborted  bool
}

// enqueue queues a request and sends it if the window is free.
func (sa *ikeSA) enqueue(now time.Time, r *request) {
	sa.queue = append(sa.queue, r)
	sa.pump(now)
}

// pump sends queued requests while the window is free.
func (sa *ikeSA) pump(now time.Time) {
	for sa.out == nil && len(sa.queue) > 0 && sa.keys != nil && sa.state != stDead && sa.state != stDeleting {
		r := sa.queue[0]
		sa.queue = sa.queue[1:]
		if r.aborted {
			continue
		}
		if err := sa.sendRequest(now, r); err != nil {
			sa.Log.Warn("cannot send request", zap.String("request", r.what), zap.Error(err))
			if r.onFail != nil {
				r.onFail(now, err)
			}
		}
	}
}

// sendRequest builds, seals and sends a request with the next Message ID and arms its
// retransmission.
func (sa *ikeSA) sendRequest(now time.Time, r *request) error {
	payloads, err := r.build(now)
	if err != nil {
		return err
	}
	msgs, err := sa.seal(r.exch, sa.nextMID, false, payloads, sa.Remote, sa.NATT)
	if err != nil {
		return err
	}
	r.mid, r.sent = sa.nextMID, true
	sa.nextMID++
	sa.out = r
	sa.startRequest(now, r.what, msgs)
	return nil
}

// encode seals a message of this SA (§3.14): the I flag when we are the SA's original
// initiator, R for a response.
func (sa *ikeSA) encode(exch wire.ExchangeType, mid uint32, response bool, payloads []wire.Payload) ([]byte, error) {
	h := wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: exch, MessageID: mid}
	if sa.Initiator {
		h.Flags |= wire.FlagInitiator
	}
	if response {
		h.Flags |= wire.FlagResponse
	}
	m, err := wire.EncodeEncrypted(h, payloads, sa.keys.out)
	if err != nil {
		return nil, fmt.Errorf("ikev2: encoding %s: %w", exch, err)
	}
	return m.Raw, nil
}

// open verifies and decrypts a protected message, or adds a fragment to the reassembly
// (nil message while fragments are missing). An authenticated message whose inner payloads
// do not decode is a *protoError with INVALID_SYNTAX; a message that fails its integrity
// check is errIntegrity (dropped, counted, never answered: §2.21).
func (sa *ikeSA) open(d *core.Datagram, h wire.Header) (*wire.Message, error) {
	if sa.keys == nil {
		sa.p.Ctr.Inc(core.CtrUnexpected)
		return nil, fail(0, ErrUnexpected, "protected %s before keys exist", h.Exchange)
	}
	m, err := wire.DecodeEncrypted(d.Raw, sa.keys.in)
	if errors.Is(err, wire.ErrFragment) {
		f, ferr := wire.DecodeFragment(d.Raw, sa.keys.in)
		if ferr != nil {
			return nil, sa.openFailed(ferr)
		}
		sa.p.Ctr.Inc(core.CtrFragmentsIn)
		m, err = sa.reasm.Add(f)
		if err == nil && m == nil {
			return nil, nil
		}
		if errors.Is(err, wire.ErrFragmentRefused) {
			sa.p.Ctr.Inc(core.CtrMalformed)
			sa.p.Ctr.Inc(core.CtrFragmentsDropped)
			return nil, fail(0, ErrMalformed, "fragment refused: %v", err)
		}
		if err == nil {
			sa.p.Ctr.Inc(core.CtrFragmentsReassembled)
		}
	}
	if err != nil {
		return nil, sa.openFailed(err)
	}
	if m.Inner == nil {
		m.Inner = &wire.Chain{}
	}
	return m, nil
}

var errIntegrity = errors.New("ikev2: integrity check failed")

func (sa *ikeSA) openFailed(err error) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Inner {
		sa.p.Ctr.Inc(core.CtrMalformed)
		return malformed("protected payloads", err)
	}
	sa.p.Ctr.Inc(core.CtrDecryptFailures)
	return fmt.Errorf("%w: %v", errIntegrity, err)
}

// handle dispatches a message that belongs to this SA.
func (sa *ikeSA) handle(now time.Time, d *core.Datagram, h wire.Header) {
	switch {
	case sa.state == stDead:
		sa.p.Ctr.Inc(core.CtrInvalidCookie)
	case h.Exchange == wire.ExchangeIKESAInit:
		if h.IsResponse() && sa.Initiator && sa.state == stInitSent {
			sa.handleInitResponse(now, d, h)
			return
		}
		if h.IsResponse() && sa.Initiator && bytes.Equal(d.Raw, sa.initResp) {
			// A network copy of the response we already took (counted like every other
			// duplicate; before, it was an "unexpected" message).
			sa.p.Ctr.Inc(core.CtrDuplicates)
			return
		}
		sa.p.Ctr.Inc(core.CtrUnexpected)
	case h.FromInitiator() == sa.Initiator:
		// The sender claims our own role: a reflected message.
		sa.p.Ctr.Inc(core.CtrUnexpected)
	case h.IsResponse():
		sa.handleResponse(now, d, h)
	default:
		sa.handleRequest(now, d, h)
	}
}

// handleResponse matches a response to our request in flight (§2.3).
func (sa *ikeSA) handleResponse(now time.Time, d *core.Datagram, h wire.Header) {
	r := sa.out
	if r == nil || h.MessageID != r.mid || h.Exchange != r.exch {
		sa.p.Ctr.Inc(core.CtrDuplicates)
		return
	}
	if h.NextPayload != wire.PayloadSK && h.NextPayload != wire.PayloadSKF {
		sa.handlePlainResponse(now, d, r)
		return
	}
	m, err := sa.open(d, h)
	if err != nil || m == nil {
		if err != nil {
			sa.Log.Debug("response dropped", zap.Error(err))
		}
		return
	}
	sa.retrans.Stop()
	sa.out = nil
	sa.LastRecv = now
	sa.p.Timers.Stop(sa.forgotten) // a valid answer outweighs an INVALID_IKE_SPI hint
	sa.forgottenReq = nil
	if sa.state == stDeleting {
		sa.finish()
		return
	}
	sa.updatePeer(now, d)
	if r.aborted {
		if r.onFail != nil {
			r.onFail(now, fmt.Errorf("%w: aborted", ErrDeleted))
		}
	} else if err := r.onResp(now, m); err != nil && !errors.Is(err, errStop) {
		sa.Log.Debug("response rejected", zap.String("request", r.what), zap.Error(err))
	}
	sa.pump(now)
}

// handleRequest processes the peer's request with the expected Message ID, or answers a
// retransmission of the previous one from the cache (§2.3).
func (sa *ikeSA) handleRequest(now time.Time, d *core.Datagram, h wire.Header) {
	if sa.keys == nil || sa.state == stDeleting {
		sa.p.Ctr.Inc(core.CtrUnexpected)
		return
	}
	if h.MessageID != sa.peerMID {
		if h.MessageID+1 == sa.peerMID && sa.lastResp != nil {
			sa.answerRetransmission(now, d, h)
			return
		}
		sa.p.Ctr.Inc(core.CtrUnexpected)
		sa.Log.Debug("request outside the window", zap.Uint32("mid", h.MessageID), zap.Uint32("expected", sa.peerMID))
		return
	}
	m, err := sa.open(d, h)
	if err != nil {
		if n, data := notifyOf(err); n != 0 {
			// Authenticated but unparseable: INVALID_SYNTAX (§2.21.2), and an IKE_AUTH that
			// cannot be read ends the SA.
			sa.p.Ctr.Inc(core.CtrErrorNotifiesOut)
			sa.respond(now, d, h, []wire.Payload{&wire.Notify{NotifyType: n, Data: data}})
			if h.Exchange == wire.ExchangeIKEAuth {
				sa.failIKE(now, err, false)
			}
		} else {
			sa.Log.Debug("request dropped", zap.Error(err))
		}
		return
	}
	if m == nil {
		return // more fragments to come
	}
	sa.LastRecv = now
	sa.p.Heard(sa.HalfOpen, now)
	var (
		resp  []wire.Payload
		after func(now time.Time)
	)
	switch h.Exchange {
	case wire.ExchangeIKEAuth:
		if !sa.Initiator && sa.state == stEAP && sa.eap != nil {
			resp, after = sa.handleEAPRequest(now, m)
			break
		}
		if sa.Initiator || sa.state != stInitDone || h.MessageID != 1 {
			sa.p.Ctr.Inc(core.CtrUnexpected)
			return
		}
		// The initiator proved it receives at its address: under a flood of first
		// messages its half-open entry is evicted last (core/halfopen.go).
		sa.p.Answered(sa.HalfOpen, now)
		resp, after = sa.handleAuthRequest(now, d, m)
	case wire.ExchangeCreateChildSA:
		if sa.state != stEstablished && sa.state != stRekeyed {
			sa.p.Ctr.Inc(core.CtrUnexpected)
			return
		}
		sa.updatePeer(now, d)
		resp, after = sa.handleCreateChild(now, m)
	case wire.ExchangeInformational:
		if !sa.Initiator && sa.state == stEAP && sa.eap != nil {
			resp, after = sa.eapInformational(m) // the client gives up during EAP (eap.go)
			break
		}
		if sa.state != stEstablished && sa.state != stRekeyed {
			sa.p.Ctr.Inc(core.CtrUnexpected)
			return
		}
		if isAddressUpdate(m) {
			resp = sa.respondUpdateSA(now, d, m) // RFC 4555 §3.5 (mobike.go)
			break
		}
		sa.updatePeer(now, d)
		resp, after = sa.handleInformational(now, m)
		resp = sa.answerNATD(resp, d, m)
	default:
		sa.p.Ctr.Inc(core.CtrUnsupportedExchange)
		sa.Log.Info("ignoring exchange", zap.Stringer("exchange", h.Exchange))
		return
	}
	if resp == nil && after == nil && h.Exchange == wire.ExchangeIKEAuth {
		return // nothing to say (the SA is gone)
	}
	sa.respond(now, d, h, resp)
	if after != nil {
		after(now)
	}
}

// respond seals and sends the response to a request, and remembers it for retransmissions.
func (sa *ikeSA) respond(now time.Time, d *core.Datagram, h wire.Header, payloads []wire.Payload) {
	msgs, err := sa.seal(h.Exchange, h.MessageID, true, payloads, d.From, d.NATT)
	if err != nil {
		sa.Log.Warn("cannot encode response", zap.Error(err))
		return
	}
	sa.peerMID = h.MessageID + 1
	sa.lastResp = msgs
	sa.replies.Remember(d.Hash, msgs[0])
	// §2.11: the response goes where the request came from, from where it arrived.
	sa.sendAll(msgs, sa.Local, d.From, d.NATT)
}

// answerRetransmission resends the cached response to the peer's previous request. A
// byte-identical request is answered at once; another one with that Message ID only if it
// verifies (a peer may re-encrypt). The answer goes only to the address the SA knows.
func (sa *ikeSA) answerRetransmission(now time.Time, d *core.Datagram, h wire.Header) {
	if h.NextPayload == wire.PayloadSKF {
		// RFC 7383 §2.6.1: a retransmitted fragmented request is answered again; its
		// fragments are verified, not stored, and only the first one triggers the answer
		// (once per retransmission, whichever fragment completed the original).
		f, err := wire.DecodeFragment(d.Raw, sa.keys.in)
		if err != nil {
			sa.p.Ctr.Inc(core.CtrDecryptFailures)
			return
		}
		if f.Number != 1 {
			sa.p.Ctr.Inc(core.CtrDuplicates)
			return
		}
	} else if _, seen := sa.replies.Lookup(d.Hash); !seen {
		if m, err := sa.open(d, h); err != nil || m == nil {
			sa.p.Ctr.Inc(core.CtrUnexpected)
			return
		}
	}
	sa.p.Ctr.Inc(core.CtrDuplicates)
	if d.From != sa.Remote && !(d.From.Addr() == sa.Remote.Addr() && d.NATT) {
		sa.p.Ctr.Inc(core.CtrRepliesMisdirected)
		sa.Log.Debug("not answering a retransmission from an address this SA does not know", zap.Stringer("from", d.From))
		return
	}
	// The initiator is still trying: a half-open SA (EAP rounds) waits for it as long as
	// its retransmissions may go on (core/halfopen.go).
	sa.p.Heard(sa.HalfOpen, now)
	sa.sendAll(sa.lastResp, sa.Local, d.From, d.NATT)
}

// abortExchanges fails our request in flight and the queued ones (the SA is going).
func (sa *ikeSA) abortExchanges(now time.Time, reason error) {
	sa.retrans.Stop()
	pending := sa.queue
	if sa.out != nil {
		pending = append([]*request{sa.out}, pending...)
	}
	sa.out, sa.queue = nil, nil
	for _, r := range pending {
		if !r.aborted && r.onFail != nil {
			r.aborted = true
			r.onFail(now, reason)
		}
	}
	if sa.ikeRekey != nil {
		sa.ikeRekey.abort(now, reason)
	}
	// The first child rides on IKE_AUTH: an IKE SA that dies before the answer takes it
	// along, else its unit would stay pending and never come up on the next IKE SA.
	if fc := sa.first1; fc != nil {
		sa.first1 = nil
		fc.abort(now, reason)
	}
}

// retransmitGiveUp: our request was not answered after every retransmission. Before the SA
// is up the negotiation failed; afterwards the peer is considered dead (§2.4) and
// dpd_action applies.
func (sa *ikeSA) retransmitGiveUp(now time.Time) {
	err := fmt.Errorf("%w after %d transmissions", ErrTimeout, sa.retrans.Tries())
	switch sa.state {
	case stInitSent, stAuthSent:
		sa.failIKE(now, fmt.Errorf("%w (%s)", err, sa.state), false)
		return
	case stDeleting:
		sa.finish()
		return
	case stRekeyed:
		sa.destroy(now, false, err)
		return
	}
	r := sa.out
	sa.out = nil
	what := "request"
	if r != nil {
		what = r.what
		if r.onFail != nil && !r.aborted {
			r.aborted = true
			r.onFail(now, err)
		}
	}
	sa.Log.Warn("peer did not answer: considering it dead", zap.String("request", what), zap.Error(err))
	sa.p.PeerDead(now, sa)
}

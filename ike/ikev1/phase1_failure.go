package ikev1

// How a Phase 1 exchange ends when it goes wrong: which failures drop a message and which
// end the exchange, the counters, the one log line, and the notification to the peer
// (protected when the peer holds our keys, RFC 2408 §5.7), with a Delete when the peer
// already considers Phase 1 complete.

import (
	"errors"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// phase1Step concludes the handling of one Main or Aggressive Mode message. A message that
// does not fit the state, or a plaintext one that lacks what the state needs, is dropped
// without ending the exchange (it may be stale or forged; the retransmissions go on); a
// failed negotiation or authentication ends it.
func (sa *ikeSA) phase1Step(now time.Time, in *inbound, err error) error {
	if err == nil {
		sa.rememberProcessed(in)
		return nil
	}
	if errors.Is(err, errStop) {
		return err
	}
	if errors.Is(err, ErrUnexpected) || errors.Is(err, ErrMalformed) && !in.msg.Header.Flags.Has(isakmp.FlagEncryption) && sa.state != p1Start {
		sa.c.CountError(err)
		sa.Log.Info("dropping "+sa.modeName()+" message", zap.Stringer("state", sa.state), zap.Error(err))
		return err
	}
	to, natt := sa.replyTo(in)
	return sa.phase1Failed(now, err, to, natt)
}

// replyTo is where a reply to in goes: back where it came from.
func (sa *ikeSA) replyTo(in *inbound) (netip.AddrPort, bool) { return in.From, in.NATT }

// countError bumps the counter that matches an error.
func (c *Protocol) countError(err error) {
	switch {
	case errors.Is(err, ErrNoProposalChosen):
		c.Ctr.Inc(core.CtrNoProposal)
	case errors.Is(err, ErrAuthenticationFailed):
		c.Ctr.Inc(core.CtrAuthFailures)
	case errors.Is(err, ErrInvalidID):
		c.Ctr.Inc(core.CtrInvalidID)
	case errors.Is(err, ErrInvalidKE):
		c.Ctr.Inc(core.CtrInvalidKE)
	case errors.Is(err, ErrInvalidHash):
		c.Ctr.Inc(core.CtrInvalidHash)
	case errors.Is(err, ErrMalformed):
		c.Ctr.Inc(core.CtrMalformed)
	case errors.Is(err, ErrUnexpected):
		c.Ctr.Inc(core.CtrUnexpected)
	}
}

// phase1Failed ends a Phase 1 exchange: one log line, the counter, the notification to the
// peer, and the SA is gone. The notification is unprotected, since the peer may not share our
// keys, except for an unacceptable identity: that is found in a message that decrypted and
// decoded under our keys, so the peer has them, and peers such as strongSwan ignore
// unprotected notifications once keys exist (RFC 2408 §5.7 leaves that to them).
func (sa *ikeSA) phase1Failed(now time.Time, err error, to netip.AddrPort, natt bool) error {
	sa.c.CountError(err)
	sa.c.Ctr.Inc(core.CtrIKEFailed)
	msg := sa.modeName() + " failed"
	switch {
	case errors.Is(err, errRefused):
		msg = sa.modeName() + " refused"
	case errors.Is(err, ErrAuthenticationFailed) && sa.auth != nil:
		msg = "authentication failed: " + sa.auth.failureHint()
	case errors.Is(err, ErrAuthenticationFailed):
		msg = "authentication failed"
	}
	n := notifyFor(err)
	fields := []zap.Field{zap.Bool("initiator", sa.Initiator), zap.Stringer("state", sa.state), zap.Error(err)}
	if n != 0 {
		fields = append(fields, zap.Stringer("notify", n))
	}
	sa.Log.Warn(msg, fields...)
	switch {
	case n == 0:
	case sa.keys != nil && (errors.Is(err, ErrInvalidID) || sa.peerSharesKeys() && errors.Is(err, ErrAuthenticationFailed)):
		sa.c.Ctr.Inc(core.CtrErrorNotifiesOut)
		sa.sendInformationalTo([]isakmp.Payload{&isakmp.Notification{DOI: isakmp.DOIIPsec,
			ProtocolID: isakmp.ProtoISAKMP, NotifyType: n, SPI: sa.cookies()}}, to, natt)
		if sa.Initiator && sa.state == p1MM5Sent || !sa.Initiator && sa.state == p1AM2Sent {
			// The peer completed Phase 1 when it sent its last message (MM6, AM3): it
			// holds an established SA that our notification alone would not end
			// (strongSwan logs an error notify on an established SA and keeps it).
			// Delete it.
			sa.sendDeleteISAKMP()
		}
	default:
		sa.sendPlainNotify(n, to, natt)
	}
	sa.destroy(now, false, err)
	return errStop
}

// hint is the authenticator's failure hint (or the pre-shared key's before one exists).
func (sa *ikeSA) hint() string {
	if sa.auth == nil {
		return "pre-shared keys differ?"
	}
	return sa.auth.failureHint()
}

// peerSharesKeys reports whether a peer that failed authentication still holds our keys, so
// the notification can be protected (peers such as strongSwan ignore unprotected ones once
// they have keys): with signatures SKEYID depends only on the nonces and g^xy, never on a
// credential. With a pre-shared key or public-key encryption a failure may mean the keys
// differ (and for the latter, whether they do must not show).
func (sa *ikeSA) peerSharesKeys() bool {
	_, sig := sa.auth.(*sigAuth)
	return sig
}

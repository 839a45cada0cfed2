package ikev2

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// invalidSPIAnswer builds the unprotected INVALID_IKE_SPI answer to request m (what a peer
// that lost the SA sends; in these tests also what an attacker who saw the SPIs could forge).
func invalidSPIAnswer(t *testing.T, m []byte) []byte {
	t.Helper()
	h, err := wire.DecodeHeader(m)
	if err != nil {
		t.Fatal(err)
	}
	flags := wire.FlagResponse
	if !h.FromInitiator() {
		flags |= wire.FlagInitiator
	}
	out, err := wire.EncodeMessage(wire.Header{SPIi: h.SPIi, SPIr: h.SPIr, Exchange: h.Exchange, Flags: flags, MessageID: h.MessageID},
		[]wire.Payload{wire.NewNotify(wire.NotifyInvalidIKESPI, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Raw
}

// TestForgottenHalfOpenAnswered: the responder forgets the half-open IKE SA (evicted under a
// flood) while the initiator's IKE_AUTH is on its way. It answers the retransmitted IKE_AUTH
// with INVALID_IKE_SPI (RFC 7296 §2.21.4); the initiator gives that exchange up after the
// confirmation wait, not after its whole retransmission schedule (165 s), says the peer
// forgot it, not that authentication failed, and starts over: the tunnel is back within
// seconds. Without the answer the initiator retransmits into the void (the negative
// control: noAnswer).
func TestForgottenHalfOpenAnswered(t *testing.T) {
	for _, noAnswer := range []bool{false, true} {
		a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
		n, x, y := pair(t, a, b)
		dropped := false
		var forgotAt time.Time
		n.filter = func(from, to *node, m []byte) []byte {
			if ex, resp, _ := exchangeOf(m); from == x && ex == wire.ExchangeIKEAuth && !resp && !dropped {
				dropped = true
				for _, s := range y.p.sas { // the flood evicts B's half-open SA
					s.halfOpenExpired(n.now, true)
				}
				forgotAt = n.now
				if noAnswer {
					y.p.unknownSPI = tokenBucket{tokens: -1e9, last: n.now} // no token for a long time
				}
				return nil
			}
			return m
		}
		x.core.Start(n.now)
		n.runUntil(func() bool { return dropped }, time.Minute)
		up := func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }
		if noAnswer {
			// testRetransmit gives up after 1+2+4+8+16 = 31 s.
			n.runFor(20 * time.Second)
			if up() || x.ctr.Get(core.CtrInvalidSPIIn) != 0 {
				t.Fatal("without INVALID_IKE_SPI answers the tunnel was back within 20 s: the check cannot fail")
			}
			if y.ctr.Get(core.CtrInvalidSPILimited) == 0 {
				t.Fatal("the responder's rate limit held nothing back")
			}
			continue
		}
		n.runUntil(up, 30*time.Second)
		took := n.now.Sub(forgotAt)
		if took > 10*time.Second {
			t.Fatalf("the tunnel was back only %s after the responder forgot the half-open SA", took)
		}
		if y.ctr.Get(core.CtrInvalidSPIOut) == 0 || x.ctr.Get(core.CtrInvalidSPIIn) == 0 {
			t.Fatalf("INVALID_IKE_SPI out %d (B), in %d (A)", y.ctr.Get(core.CtrInvalidSPIOut), x.ctr.Get(core.CtrInvalidSPIIn))
		}
		if got := x.ctr.Get(core.CtrIKEFailed); got != 1 {
			t.Fatalf("A counts %d failed IKE SAs, want the forgotten one", got)
		}
		if got := x.ctr.Get(core.CtrAuthFailures); got != 0 {
			t.Fatalf("A blamed authentication %d times for a forgotten SA", got)
		}
		t.Logf("the tunnel was back %s after the responder forgot the half-open SA", took)
	}
}

// TestForgedInvalidSPIIgnoredWhenAnswered: an INVALID_IKE_SPI answer is unauthenticated; if the
// peer's valid answer to the same request follows within the confirmation wait, the hint is
// forgotten and nothing fails.
func TestForgedInvalidSPIIgnoredWhenAnswered(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	forged := false
	n.filter = func(from, to *node, m []byte) []byte {
		if ex, resp, _ := exchangeOf(m); from == x && ex == wire.ExchangeIKEAuth && !resp && !forged {
			forged = true
			x.core.HandleDatagram(n.now, invalidSPIAnswer(t, m), netip.AddrPortFrom(ipB, 4500), netip.AddrPortFrom(ipA, 4500))
		}
		return m
	}
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	n.runFor(time.Minute)
	if !forged || x.ctr.Get(core.CtrInvalidSPIIn) != 1 {
		t.Fatalf("forged %v, A's invalid_ike_spi_in %d", forged, x.ctr.Get(core.CtrInvalidSPIIn))
	}
	if x.ctr.Get(core.CtrIKEFailed) != 0 || x.ctr.Get(core.CtrIKEEstablished) != 1 || !childUp(x, "ab", "net") {
		t.Fatalf("a forged INVALID_IKE_SPI cost the exchange: failed %d, established %d", x.ctr.Get(core.CtrIKEFailed), x.ctr.Get(core.CtrIKEEstablished))
	}
}

// TestPeerRestartAnswersInvalidSPI: the peer restarted and lost every IKE SA; our next
// request (a liveness check) gets INVALID_IKE_SPI, and the SA is declared dead after the
// confirmation wait instead of after the retransmission schedule; dpd_action restarts it.
func TestPeerRestartAnswersInvalidSPI(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	a.DPDAction = "restart"
	n, x, y := pair(t, a, b)
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	old := currentSA(x, "ab")
	for _, s := range y.p.sas { // B restarts: its IKE SAs are gone, nothing was sent
		s.finish()
	}
	restart := n.now
	if !old.SendLiveness(n.now) {
		t.Fatal("no liveness check sent")
	}
	// B's side of the simulated restart is partial (its pairs stay in its data plane), so
	// only A's new IKE SA and pair are waited for.
	n.runUntil(func() bool {
		cur := currentSA(x, "ab")
		return cur != nil && cur != old && cur.established() && childUp(x, "ab", "net")
	}, time.Minute)
	// Without the answer: testRetransmit's 31 s, then the restart.
	if took := n.now.Sub(restart); took > 10*time.Second {
		t.Fatalf("the tunnel came back %s after the peer restarted", took)
	}
	if y.ctr.Get(core.CtrInvalidSPIOut) == 0 || x.ctr.Get(core.CtrInvalidSPIIn) == 0 {
		t.Fatalf("INVALID_IKE_SPI out %d (B), in %d (A)", y.ctr.Get(core.CtrInvalidSPIOut), x.ctr.Get(core.CtrInvalidSPIIn))
	}
}

// TestInvalidSPIAnswersRateLimited: a burst of protected requests with SPIs nobody knows gets
// at most the burst of answers; each answer is the request's SPIs and Message ID with the
// response flag, one INVALID_IKE_SPI notification, and no larger than the request. Responses,
// IKE_SA_INIT and messages in the clear get nothing.
func TestInvalidSPIAnswersRateLimited(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, _, y := pair(t, a, b)
	from, to := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), 4500), netip.AddrPortFrom(ipB, 4500)
	req := func(spi byte, flags wire.Flags, next wire.PayloadType, ex wire.ExchangeType) []byte {
		h := wire.Header{SPIi: wire.SPI{1, 2, 3, 4, 5, 6, 7, spi}, SPIr: wire.SPI{9, 9, 9, 9, 9, 9, 9, spi}, NextPayload: next,
			Exchange: ex, Flags: flags, MessageID: 7}
		body := bytes.Repeat([]byte{0}, 64)
		body[1] = 0 // generic payload header: next none
		body[2], body[3] = 0, 64
		h.Length = uint32(28 + len(body))
		return append(h.Append(nil), body...)
	}
	// Not answered: a response, IKE_SA_INIT, a message in the clear.
	for _, m := range [][]byte{
		req(1, wire.FlagResponse, wire.PayloadSK, wire.ExchangeInformational),
		req(2, wire.FlagInitiator, wire.PayloadNotify, wire.ExchangeInformational),
	} {
		y.core.HandleDatagram(n.now, m, from, to)
	}
	if out := y.core.TakeOut(); len(out) != 0 {
		t.Fatalf("%d answers to messages that get none", len(out))
	}
	const burst = 100
	for i := range burst {
		y.core.HandleDatagram(n.now, req(byte(i), wire.FlagInitiator, wire.PayloadSK, wire.ExchangeInformational), from, to)
	}
	out := y.core.TakeOut()
	if len(out) != unknownSPIBurst || y.ctr.Get(core.CtrInvalidSPIOut) != unknownSPIBurst || y.ctr.Get(core.CtrInvalidSPILimited) != burst-unknownSPIBurst {
		t.Fatalf("%d answers to %d requests, invalid_ike_spi_out %d, limited %d; want %d answers", len(out), burst,
			y.ctr.Get(core.CtrInvalidSPIOut), y.ctr.Get(core.CtrInvalidSPILimited), unknownSPIBurst)
	}
	m, err := wire.DecodeMessage(out[0].Msg)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	if h.SPIi != (wire.SPI{1, 2, 3, 4, 5, 6, 7, 0}) || h.SPIr != (wire.SPI{9, 9, 9, 9, 9, 9, 9, 0}) || h.MessageID != 7 ||
		!h.IsResponse() || h.FromInitiator() || h.Exchange != wire.ExchangeInformational || out[0].To != from {
		t.Fatalf("answer header %+v to %v", h, out[0].To)
	}
	if ns := m.Notifies(); len(ns) != 1 || ns[0].NotifyType != wire.NotifyInvalidIKESPI || len(out[0].Msg) > 28+64 {
		t.Fatalf("answer payloads %v, %d bytes", m.Chain, len(out[0].Msg))
	}
	// A second later the bucket holds unknownSPIRate tokens again.
	n.now = n.now.Add(time.Second)
	for i := range burst {
		y.core.HandleDatagram(n.now, req(byte(i), wire.FlagInitiator, wire.PayloadSK, wire.ExchangeInformational), from, to)
	}
	if got := len(y.core.TakeOut()); got != unknownSPIRate {
		t.Fatalf("%d answers a second later, want %d", got, unknownSPIRate)
	}
}

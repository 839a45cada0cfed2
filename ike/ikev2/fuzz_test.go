package ikev2

// Fuzz targets for every way network bytes enter the IKEv2 state machines:
//   - FuzzResponder: any datagram to a fresh responder, to one waiting for IKE_AUTH (the
//     datagram's SPIs patched to the SA's) and to an established responder;
//   - FuzzInitiator: any datagram to an initiator waiting for the IKE_SA_INIT response, for
//     the IKE_AUTH response, or established, SPIs patched (the stage argument picks one);
//   - FuzzProtected: any payload chain, sealed with the SA's keys and the expected Message
//     ID, as a request of any exchange to an established SA of either role, or as the
//     response to its request in flight (the sel argument picks the exchange, the role and
//     request or response).
//
// The last two run one scenario per input, chosen by the input: building and negotiating
// the pair is most of an execution (the datagram's own processing about 2% in a profile),
// and a scenario per input lets the fuzzer keep and mutate an input for the scenario it
// was interesting in. FuzzResponder still runs its three stages per input.
// Seeds: the golden strongSwan datagrams of ike/ikev2/wire and the corpus in
// testdata/fuzz. Invariants: no panic, the half-open table matches the SAs flagged, answers
// to unauthenticated datagrams stay within the amplification bound, an established SA either
// survives or is gone from every table.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/core/coretest"
	"oakley/ike/ikev2/wire"
)

func goldenDatagrams(t testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob("wire/testdata/strongswan-*.hex")
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) == 2 && !strings.HasPrefix(fs[0], "#") {
				if b, err := hex.DecodeString(fs[1]); err == nil {
					out = append(out, b)
				}
			}
		}
		fh.Close()
	}
	return out
}

// fuzzPair is a network stopped at a stage of the handshake.
func fuzzPair(t testing.TB, stage int) (*lnet, *node, *node) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-curve25519"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	x.p.hooks.dh, y.p.hooks.dh = fuzzDH, fuzzDH
	delivered := 0
	n.filter = func(from, to *node, m []byte) []byte {
		if delivered >= stage {
			return nil
		}
		delivered++
		return m
	}
	x.core.Start(n.now)
	for i := 0; i < 8 && n.anyPending(); i++ {
		n.step()
	}
	n.filter = nil
	return n, x, y
}

// fuzzDH stands in for Diffie-Hellman in the fuzz targets' exchanges: both ends derive
// the same fixed secret (two scalar multiplications per end and exchange were a third of
// the targets' time).
func fuzzDH(group uint16) (keyExchange, error) { return coretest.NewStandInDH(group) }

func checkHalfOpen(t *testing.T, nd *node) {
	k := 0
	for _, sa := range nd.p.sas {
		if sa.HalfOpen != nil {
			k++
		}
	}
	if k != nd.core.HalfOpenCount() {
		t.Fatalf("%s: half-open count %d, %d SAs flagged", nd.name, nd.core.HalfOpenCount(), k)
	}
}

// patched returns data with the SPIs of sa in its header (if it is long enough).
func patched(data []byte, sa *ikeSA) []byte {
	d := bytes.Clone(data)
	if len(d) >= 16 && sa != nil {
		copy(d[0:8], sa.spiI[:])
		copy(d[8:16], sa.spiR[:])
	}
	return d
}

func anySA(nd *node) *ikeSA {
	for _, sa := range nd.p.sas {
		return sa
	}
	return nil
}

func feed(nd *node, now time.Time, d []byte, from netip.AddrPort) []core.Outgoing {
	nd.core.HandleDatagram(now, d, from, netip.AddrPortFrom(nd.ip, 500))
	nd.core.HandleDatagram(now, d, netip.AddrPortFrom(from.Addr(), 4500), netip.AddrPortFrom(nd.ip, 4500))
	return nd.core.TakeOut()
}

func FuzzResponder(f *testing.F) {
	for _, d := range goldenDatagrams(f) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, _, y := fuzzPair(t, 0)
		for _, o := range feed(y, n.now, data, netip.AddrPortFrom(ipA, 500)) {
			if len(o.Msg) > amplificationFactor*len(data) {
				t.Fatalf("a %d-byte answer to %d bytes", len(o.Msg), len(data))
			}
		}
		checkHalfOpen(t, y)
		y.core.FireTimers(n.now.Add(2 * core.HalfOpenTimeout))
		if y.core.HalfOpenCount() != 0 {
			t.Fatal("half-open state did not expire")
		}
		for _, stage := range []int{2, 4} { // waiting for IKE_AUTH; established
			n, _, y := fuzzPair(t, stage)
			sa := anySA(y)
			feed(y, n.now, patched(data, sa), netip.AddrPortFrom(ipA, 500))
			checkHalfOpen(t, y)
			n.runFor(time.Minute)
		}
	})
}

// initiatorStages are FuzzInitiator's stages: waiting for IKE_SA_INIT, for IKE_AUTH;
// established.
var initiatorStages = []int{1, 3, 4}

func FuzzInitiator(f *testing.F) {
	for _, d := range goldenDatagrams(f) {
		for i := range initiatorStages {
			f.Add(d, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		stage := initiatorStages[int(sel)%len(initiatorStages)]
		n, x, _ := fuzzPair(t, stage)
		sa := anySA(x)
		d := patched(data, sa)
		if stage == 1 && len(d) >= 16 {
			copy(d[8:16], []byte{1, 2, 3, 4, 5, 6, 7, 8}) // a responder SPI for the answer
		}
		feed(x, n.now, d, netip.AddrPortFrom(ipB, 500))
		n.runFor(time.Minute)
	})
}

// sealRaw builds a protected message whose SK payload carries plain (any bytes) as the
// inner chain starting with type first.
func sealRaw(t *testing.T, h wire.Header, first wire.PayloadType, plain []byte, sk *wire.SKCipher) []byte {
	sealedLen := sk.SealedLen(len(plain))
	h.NextPayload = wire.PayloadSK
	h.Length = uint32(wire.HeaderLen + 4 + sealedLen)
	aad := h.Append(nil)
	aad = append(aad, byte(first), 0)
	aad = binary.BigEndian.AppendUint16(aad, uint16(4+sealedLen))
	sealed, err := sk.Seal(aad, plain)
	if err != nil {
		t.Fatal(err)
	}
	return append(aad, sealed...)
}

// protectedExchanges are the exchanges FuzzProtected's requests claim (sel % 3); sel / 3
// % 4 picks the role of the SA under test (bit 0: 0 responder, 1 initiator) and whether
// the message is a request to it or the response to a request of its own in flight (bit
// 1): for sel % 3 = 0, 1, 2 a child rekey, a liveness check and an IKE SA rekey.
var protectedExchanges = []wire.ExchangeType{wire.ExchangeCreateChildSA, wire.ExchangeInformational, wire.ExchangeIKEAuth}

func FuzzProtected(f *testing.F) {
	// Seeds: inner chains of real requests (CREATE_CHILD_SA, INFORMATIONAL Delete and
	// liveness, IKE_AUTH) as the harness produces them, in every scenario.
	for _, c := range seedChains(f) {
		for sel := 0; sel < 3*4; sel++ {
			f.Add(c, uint8(sel))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		if len(data) < 1 || len(data) > 4096 {
			return
		}
		exch := protectedExchanges[int(sel)%3]
		scenario := int(sel) / 3 % 4
		responder, asResponse := scenario&1 == 0, scenario&2 != 0
		first := wire.PayloadType(data[0])
		plain := data[1:]
		n, x, y := fuzzPair(t, 4)
		nd, peer := y, x
		if !responder {
			nd, peer = x, y
		}
		sa, other := anySA(nd), anySA(peer)
		if sa == nil || other == nil || sa.state != stEstablished {
			t.Fatal("no established SA")
		}
		h := wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: exch, MessageID: sa.peerMID}
		if asResponse {
			switch sel % 3 {
			case 0:
				conn := "ab"
				if nd == y {
					conn = "ba"
				}
				// Traffic on the pair first: a responder defers a rekey of a pair the
				// initiator may not have yet (child_confirm.go).
				n.simulateTraffic()
				for _, m := range n.nodes {
					m.core.HandleEvents(n.now, esp.Events{SA: m.events})
					m.events = nil
				}
				u := unit(nd, conn, "net")
				sa.StartChild(n.now, u, u.Newest())
			case 1:
				sa.sendLiveness(n.now)
			case 2:
				sa.Rekey(n.now)
			}
			nd.core.TakeOut()
			if sa.out == nil || !sa.out.sent {
				t.Fatalf("no request in flight (sel %d, out %v)", sel, sa.out != nil)
			}
			h = wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: sa.out.exch, MessageID: sa.out.mid, Flags: wire.FlagResponse}
		}
		if other.Initiator {
			h.Flags |= wire.FlagInitiator
		}
		feed(nd, n.now, sealRaw(t, h, first, plain, other.keys.out), netip.AddrPortFrom(peer.ip, 4500))
		n.runFor(time.Minute)
		if sa.state == stDead && (nd.p.sas[sa.ourSPI()] == sa) {
			t.Fatal("a dead SA is still indexed")
		}
	})
}

// seedChains returns inner payload chains of real requests.
func seedChains(t testing.TB) [][]byte {
	var out [][]byte
	n, x, y := fuzzPair(t, 4)
	n.filter = func(from, to *node, m []byte) []byte {
		h, err := wire.DecodeHeader(m)
		if err != nil || h.IsResponse() {
			return m
		}
		sa := anySA(from)
		if sa == nil || sa.keys == nil {
			return m
		}
		if dm, err := wire.DecodeEncrypted(m, sa.keys.out); err == nil && dm.Inner != nil && len(dm.Inner.Payloads) > 0 {
			out = append(out, append([]byte{byte(dm.Inner.Payloads[0].Type())}, dm.Inner.Bytes...))
		}
		return m
	}
	u := unit(x, "ab", "net")
	anySA(x).StartChild(n.now, u, u.Newest())
	n.runFor(5 * time.Second)
	anySA(y).Rekey(n.now)
	n.runFor(5 * time.Second)
	return out
}

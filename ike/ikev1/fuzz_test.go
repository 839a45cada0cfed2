package ikev1

// Fuzz targets for every way network bytes enter the engine:
//   - FuzzResponder: any datagram to a fresh responder, and (with the recorded cookies
//     patched in) to responders waiting for MM3 and MM5;
//   - FuzzInitiator: any datagram (with our cookie) to an initiator waiting for MM2/AM2;
//   - FuzzPhase2: any payload chain, encrypted with the right IV and carrying a correct
//     HASH(1), into an established ISAKMP SA as Quick Mode or Informational;
// Seeds: every recorded strongSwan datagram (testdata/strongswan-*.txt) plus the corpus
// under testdata/fuzz/. Invariants: no panic, half-open accounting consistent.

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"oakley/ike/core"
	"oakley/ike/core/coretest"

	"oakley/ike/isakmp"
)

func allRecordedDatagrams(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range recordingNames {
		for _, m := range loadRecording(t, name).msgs {
			out = append(out, m.raw)
		}
	}
	return out
}

// checkHalfOpen verifies the half-open bookkeeping of a core.
func checkHalfOpen(t *testing.T, c *Protocol) {
	n := 0
	for _, sa := range c.SAs() {
		if sa.Base().HalfOpen != nil {
			n++
		}
	}
	if n != c.HalfOpenCount() {
		t.Fatalf("half-open count %d, %d SAs flagged", c.HalfOpenCount(), n)
	}
}

// responderPin holds what responderAt pins for a recording, derived from it once: the
// fuzz targets build responders for every input.
type responderPin struct {
	p    recordedP1
	q    recordedQM
	natd [][]byte
}

var (
	responderPinsMu sync.Mutex
	responderPins   = map[*recording]*responderPin{}
)

func pinFor(t *testing.T, r *recording) *responderPin {
	responderPinsMu.Lock()
	defer responderPinsMu.Unlock()
	if v := responderPins[r]; v != nil {
		return v
	}
	v := &responderPin{p: r.phase1(t), q: r.qmValues(t)}
	if r.aggressive() {
		v.natd = [][]byte{secondNATD(t, &r.msg(t, "AM2").msg.Chain)}
	} else {
		v.natd = [][]byte{secondNATD(t, &r.msg(t, "MM4").msg.Chain)}
	}
	responderPins[r] = v
	return v
}

// responderAt returns a responder core for a recording that has processed its first
// messages up to (but excluding) message index upto.
func responderAt(t *testing.T, r *recording, upto int) *replaySide {
	pin := pinFor(t, r)
	p, q := pin.p, pin.q
	s := newReplaySide(t, r, false)
	s.pin(p.ckyR, [][]byte{p.nr, q.nr}, []keyExchange{&fakeDH{p.tr.group.Group, p.gxr, r.val(t, "r", "shared_Diffie_Hellman_secret", 0)}}, pin.natd, nil, []uint32{q.spiR})
	labels := r.phase1Labels()
	for i := 0; i < upto; i++ {
		if m := r.msg(t, labels[i]); m.from == "i" {
			s.feed(m)
		}
	}
	// From here on every Diffie-Hellman exchange yields the recorded secret (a message
	// that reaches the key derivation again derives the recorded keys, so a mutated
	// retransmission or a Quick Mode with PFS goes on as far as its bytes allow), and
	// checks only the public value's length (coretest.StandInDH): a modular exponentiation
	// per input would be most of the target's time.
	// The other sources of randomness are the core's again (the recorded ones ran out).
	group, secret := p.tr.group.Group, r.val(t, "r", "shared_Diffie_Hellman_secret", 0)
	s.c.hooks = testHooks{dh: func(g uint16) (keyExchange, error) {
		if g != group {
			return nil, fmt.Errorf("fuzz: group %d, the recording has %d", g, group)
		}
		return &coretest.StandInDH{G: group, Pub: p.gxr, Secret: secret}, nil
	}}
	s.c.DP = s.dp
	return s
}

// fuzzDH stands in for Diffie-Hellman in FuzzInitiator (a MODP-2048 key pair per
// Aggressive Mode input was half the target's time).
func fuzzDH(group uint16) (keyExchange, error) { return coretest.NewStandInDH(group) }

func FuzzResponder(f *testing.F) {
	for _, d := range allRecordedDatagrams(f) {
		f.Add(d)
	}
	main := loadRecording(f, "main-psk")
	p := main.phase1(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fresh := newReplaySide(t, main, false)
		fresh.c.handleDatagram(epoch, data, netip.AddrPortFrom(ipA, 500), 500)
		fresh.c.handleDatagram(epoch, data, netip.AddrPortFrom(ipA, 4500), 4500)
		// No amplification (STANDARDS.md): a responder that has not seen the peer answer at
		// its address never sends more bytes than the first message carried. This responder
		// takes no Aggressive Mode (the one exception, messages.go), so every answer counts.
		for _, o := range fresh.c.TakeOut() {
			if len(o.Msg) > len(data) {
				t.Fatalf("answer of %d bytes (%s) to a first message of %d bytes", len(o.Msg), describe(o.Msg), len(data))
			}
		}
		checkHalfOpen(t, fresh.c)
		fresh.c.FireTimers(epoch.Add(core.HalfOpenTimeout * 2))
		if fresh.c.HalfOpenCount() != 0 {
			t.Fatal("half-open state did not expire")
		}
		if len(data) < isakmp.HeaderLen {
			return
		}
		// The same bytes as the next message of an exchange in progress.
		for _, upto := range []int{1, 3} {
			s := responderAt(t, main, upto)
			d := bytes.Clone(data)
			copy(d[0:8], p.ckyI[:])
			copy(d[8:16], p.ckyR[:])
			s.c.handleDatagram(epoch, d, netip.AddrPortFrom(ipA, 500), 500)
			s.c.handleDatagram(epoch, d, netip.AddrPortFrom(ipA, 4500), 4500)
			s.c.TakeOut()
			checkHalfOpen(t, s.c)
		}
	})
}

func FuzzInitiator(f *testing.F) {
	for _, d := range allRecordedDatagrams(f) {
		f.Add(d, false)
		f.Add(d, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, aggressive bool) {
		n, a, _ := newPair(t, pairOpts{aggressive: aggressive})
		a.c.hooks.dh = fuzzDH
		a.c.Start(n.now)
		out := a.c.TakeOut()
		if len(out) != 1 || len(data) < isakmp.HeaderLen {
			return
		}
		d := bytes.Clone(data)
		copy(d[0:8], out[0].Msg[0:8]) // our cookie, so it reaches the SA
		a.c.handleDatagram(n.now, d, netip.AddrPortFrom(ipB, 500), 500)
		a.c.handleDatagram(n.now, d, netip.AddrPortFrom(ipB, 500), 500)
		a.c.TakeOut()
		a.c.FireTimers(n.now.Add(time3m))
	})
}

const time3m = 180e9

// FuzzPhase2 feeds arbitrary payload chains into an established ISAKMP SA, protected
// correctly (right IV, right HASH(1)), so the Quick Mode and Informational handlers see
// them after authentication.
func FuzzPhase2(f *testing.F) {
	r := loadRecording(f, "main-psk-pfs")
	// Seeds: the decrypted bodies of the recorded Quick Mode and Informational messages,
	// minus their HASH payload.
	p := r.phase1(f)
	ciph, _ := newIKECipher(p.tr.enc, r.val(f, "i", "encryption_key_Ka", 0))
	ivs := r.vals["i IV_0"]
	for _, m := range append(r.quickModes(), r.informationals()...) {
		mid := m.msg.Header.MessageID
		iv := phase2IV(p.tr.hash.Hash, ivs[len(ivs)-1], mid, ciph.bs)
		plain, _, err := ciph.decrypt(iv, m.msg.Encrypted)
		if err != nil {
			continue
		}
		c, err := isakmp.DecodePayloads(m.msg.Header.NextPayload, plain, isakmp.DecodeOptions{AllowPadding: true})
		if err != nil || len(c.Spans) < 2 {
			continue
		}
		f.Add(uint8(m.msg.Header.ExchangeType), mid, uint8(c.Payloads[1].Type()), c.Bytes[c.Spans[0].End:])
	}
	f.Add(uint8(isakmp.ExchangeInformational), uint32(7), uint8(isakmp.PayloadDelete), []byte{0, 0, 0, 16, 0, 0, 0, 1, 3, 4, 0, 1, 1, 2, 3, 4})
	// Transaction exchanges: an XAUTH request and a Mode Config request and push.
	for _, a := range xauthSeeds() {
		c, err := isakmp.EncodePayloads([]isakmp.Payload{a})
		if err == nil {
			f.Add(uint8(isakmp.ExchangeTransaction), uint32(9), uint8(isakmp.PayloadAttribute), c.Bytes)
		}
	}
	f.Fuzz(func(t *testing.T, exch uint8, mid uint32, next uint8, rest []byte) {
		s := responderAt(t, r, 6)
		sa := currentSA(s.c, "c")
		if sa == nil {
			t.Fatal("no established SA")
		}
		// HASH payload whose Next Payload is next, then rest; sealed under message ID id with
		// that exchange's IV (the hash is the caller's).
		hlen := sa.keys.prf.Size()
		chainWith := func(hash []byte) []byte {
			c := []byte{next, 0, byte((4 + hlen) >> 8), byte(4 + hlen)}
			return append(append(c, hash...), rest...)
		}
		seal := func(id uint32, chain []byte) []byte {
			ct, _ := sa.keys.cipher.encrypt(phase2IV(sa.tr.hash.Hash, sa.iv, id, sa.keys.cipher.bs), sa.keys.cipher.pad(chain))
			h := isakmp.Header{InitiatorCookie: sa.ckyI, ResponderCookie: sa.ckyR, ExchangeType: isakmp.ExchangeType(exch), MessageID: id}
			m, err := isakmp.EncodeEncrypted(h, isakmp.PayloadHash, ct)
			if err != nil {
				return nil
			}
			return m.Raw
		}
		hash := quickModeHash1(sa.keys.prf, sa.keys.skeyidA, mid, rest)
		chain := chainWith(hash)
		raw := seal(mid, chain)
		if raw == nil {
			return
		}
		s.c.handleDatagram(epoch, raw, netip.AddrPortFrom(ipA, 4500), 4500)
		s.c.handleDatagram(epoch, raw, netip.AddrPortFrom(ipA, 4500), 4500)
		s.c.TakeOut()
		s.c.FireTimers(epoch.Add(time3m))
		s.c.TakeOut()
		// The same body tampered with must change nothing and draw no answer. Under a fresh
		// message ID and correctly encrypted (only the HASH stops them): with one bit of
		// HASH(1) flipped, and with the HASH(1) of the original message ID; then the original
		// with a ciphertext byte flipped, and the body unprotected (no encryption flag).
		before := phase2State(s, sa)
		mid2 := mid ^ 0x5a5a5a5a
		badHash := bytes.Clone(hash)
		badHash[len(badHash)-1] ^= 0x01
		flipped := bytes.Clone(raw)
		flipped[isakmp.HeaderLen+(len(raw)-isakmp.HeaderLen)/2] ^= 0x01
		h := isakmp.Header{InitiatorCookie: sa.ckyI, ResponderCookie: sa.ckyR, ExchangeType: isakmp.ExchangeType(exch), MessageID: mid,
			NextPayload: isakmp.PayloadHash, Length: uint32(isakmp.HeaderLen + len(chain))}
		plain := append(h.Append(nil), chain...)
		for i, tampered := range [][]byte{seal(mid2, chainWith(badHash)), seal(mid2, chain), flipped, plain} {
			s.c.handleDatagram(epoch.Add(time3m), tampered, netip.AddrPortFrom(ipA, 4500), 4500)
			if out := s.c.TakeOut(); len(out) > 0 {
				t.Fatalf("tampered message %d answered: %s", i, describe(out[0].Msg))
			}
			if after := phase2State(s, sa); after != before {
				t.Fatalf("tampered message %d changed the state:\n before %s\n after  %s", i, before, after)
			}
		}
	})
}

// phase2State describes what a Phase 2 message can change in an established ISAKMP SA.
func phase2State(s *replaySide, sa *ikeSA) string {
	ch := connNamed(s.c, "c").Child("net")
	return fmt.Sprintf("state=%s inbound=%v pairs=%d qms=%d p2ivs=%d mids=%v iv=%x replies=%d established=%d/%d deletes_in=%d",
		sa.state, s.dp.InboundSPIs(), len(ch.SAs), len(sa.qms), len(sa.p2ivs), sa.mids, sa.iv, sa.replies.Len(),
		s.c.Ctr.Get(core.CtrIKEEstablished), s.c.Ctr.Get(core.CtrChildEstablished), s.c.Ctr.Get(core.CtrDeletesIn))
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz from the recorded strongSwan sessions")

// TestWriteFuzzCorpus (with -update-corpus) writes the seed corpus under testdata/fuzz:
// every recorded strongSwan datagram for FuzzResponder and FuzzInitiator, and the
// decrypted Quick Mode / Informational bodies for FuzzPhase2.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	write := func(target, name string, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n" + strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bs := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	for _, name := range recordingNames {
		r := loadRecording(t, name)
		for i, m := range r.msgs {
			id := fmt.Sprintf("strongswan-%s-%02d-%s", name, i, m.label)
			write("FuzzResponder", id, bs(m.raw))
			write("FuzzInitiator", id, bs(m.raw), fmt.Sprintf("bool(%v)", r.aggressive()))
		}
	}
	r := loadRecording(t, "main-psk-pfs")
	p := r.phase1(t)
	ciph, _ := newIKECipher(p.tr.enc, r.val(t, "i", "encryption_key_Ka", 0))
	ivs := r.vals["i IV_0"]
	for i, m := range append(r.quickModes(), r.informationals()...) {
		mid := m.msg.Header.MessageID
		plain, _, err := ciph.decrypt(phase2IV(p.tr.hash.Hash, ivs[len(ivs)-1], mid, ciph.bs), m.msg.Encrypted)
		if err != nil {
			continue
		}
		c, err := isakmp.DecodePayloads(m.msg.Header.NextPayload, plain, isakmp.DecodeOptions{AllowPadding: true})
		if err != nil || len(c.Spans) < 2 {
			continue
		}
		write("FuzzPhase2", fmt.Sprintf("strongswan-main-psk-pfs-%02d-%s", i, m.label),
			fmt.Sprintf("byte(%q)", rune(m.msg.Header.ExchangeType)), fmt.Sprintf("uint32(%d)", mid),
			fmt.Sprintf("byte(%q)", rune(c.Payloads[1].Type())), bs(c.Bytes[c.Spans[0].End:]))
	}
}

// xauthSeeds are Attribute payloads of XAUTH and Mode Config.
func xauthSeeds() []*isakmp.ConfigAttributes {
	return []*isakmp.ConfigAttributes{
		{CfgType: isakmp.CfgRequest, Identifier: 1, Attributes: []isakmp.Attribute{isakmp.TV(isakmp.CfgXAUTHType, 0),
			isakmp.TLV(isakmp.CfgXAUTHUserName, nil), isakmp.TLV(isakmp.CfgXAUTHUserPassword, nil)}},
		{CfgType: isakmp.CfgSet, Identifier: 2, Attributes: []isakmp.Attribute{isakmp.TV(isakmp.CfgXAUTHStatus, 1)}},
		{CfgType: isakmp.CfgRequest, Identifier: 3, Attributes: []isakmp.Attribute{isakmp.TLV(isakmp.CfgInternalIP4Address, nil),
			isakmp.TLV(isakmp.CfgInternalIP4DNS, nil), isakmp.TLV(isakmp.CfgUnitySplitInclude, nil)}},
		{CfgType: isakmp.CfgSet, Identifier: 4, Attributes: []isakmp.Attribute{isakmp.TLV(isakmp.CfgInternalIP4Address, []byte{203, 0, 113, 17}),
			isakmp.TLV(isakmp.CfgUnitySplitInclude, []byte{198, 51, 100, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0}), isakmp.TLV(isakmp.CfgUnityBanner, []byte("hello"))}},
	}
}

// FuzzParseModeCfg: a gateway's Mode Config attributes (REPLY or SET) as the client reads
// them: never a panic, only valid addresses and networks.
func FuzzParseModeCfg(f *testing.F) {
	for _, a := range xauthSeeds() {
		if c, err := isakmp.EncodePayloads([]isakmp.Payload{a}); err == nil {
			f.Add(c.Bytes)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := isakmp.DecodePayloads(isakmp.PayloadAttribute, b, isakmp.DecodeOptions{})
		if err != nil {
			return
		}
		attrs, i := payloadOf[*isakmp.ConfigAttributes](c)
		if i < 0 {
			return
		}
		v, err := parseModeCfg(attrs)
		if err != nil {
			return
		}
		for _, a := range v.Addrs {
			if !a.IsValid() || a.IsUnspecified() {
				t.Fatalf("address %v accepted", a)
			}
		}
		for _, p := range v.Split {
			if !p.IsValid() || p.Masked() != p {
				t.Fatalf("split network %v accepted", p)
			}
		}
	})
}

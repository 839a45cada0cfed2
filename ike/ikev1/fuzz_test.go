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
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"oakley/ike/core"

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

// responderAt returns a responder core for a recording that has processed its first
// messages up to (but excluding) message index upto, with the hooks cleared.
func responderAt(t *testing.T, r *recording, upto int) *replaySide {
	p := r.phase1(t)
	q := r.qmValues(t)
	s := newReplaySide(t, r, false)
	var natd [][]byte
	if r.aggressive() {
		natd = [][]byte{secondNATD(t, &r.msg(t, "AM2").msg.Chain)}
	} else {
		natd = [][]byte{secondNATD(t, &r.msg(t, "MM4").msg.Chain)}
	}
	s.pin(p.ckyR, [][]byte{p.nr, q.nr}, []keyExchange{&fakeDH{p.tr.group.Group, p.gxr, r.val(t, "r", "shared_Diffie_Hellman_secret", 0)}}, natd, nil, []uint32{q.spiR})
	labels := r.phase1Labels()
	for i := 0; i < upto; i++ {
		if m := r.msg(t, labels[i]); m.from == "i" {
			s.feed(m)
		}
	}
	s.c.hooks = testHooks{}
	s.c.DP = s.dp
	return s
}

func FuzzResponder(f *testing.F) {
	for _, d := range allRecordedDatagrams(f) {
		f.Add(d)
	}
	main := loadRecording(f, "main-psk")
	f.Fuzz(func(t *testing.T, data []byte) {
		fresh := newReplaySide(t, main, false)
		fresh.c.handleDatagram(epoch, data, netip.AddrPortFrom(ipA, 500), 500)
		fresh.c.handleDatagram(epoch, data, netip.AddrPortFrom(ipA, 4500), 4500)
		for _, o := range fresh.c.TakeOut() {
			if len(o.Msg) > len(data)+4+64 && !bytes.Equal(o.Msg[:8], data[:min(8, len(data))]) {
				t.Fatalf("answer of %d bytes to %d", len(o.Msg), len(data))
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
		p := main.phase1(t)
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
	f.Fuzz(func(t *testing.T, exch uint8, mid uint32, next uint8, rest []byte) {
		s := responderAt(t, r, 6)
		sa := currentSA(s.c, "c")
		if sa == nil {
			t.Fatal("no established SA")
		}
		// HASH payload whose Next Payload is next, then rest.
		hlen := sa.keys.prf.Size()
		chain := []byte{next, 0, byte((4 + hlen) >> 8), byte(4 + hlen)}
		chain = append(chain, quickModeHash1(sa.keys.prf, sa.keys.skeyidA, mid, rest)...)
		chain = append(chain, rest...)
		ct, _ := sa.keys.cipher.encrypt(phase2IV(sa.tr.hash.Hash, sa.iv, mid, sa.keys.cipher.bs), sa.keys.cipher.pad(chain))
		h := isakmp.Header{InitiatorCookie: sa.ckyI, ResponderCookie: sa.ckyR, ExchangeType: isakmp.ExchangeType(exch), MessageID: mid}
		m, err := isakmp.EncodeEncrypted(h, isakmp.PayloadHash, ct)
		if err != nil {
			return
		}
		s.c.handleDatagram(epoch, m.Raw, netip.AddrPortFrom(ipA, 4500), 4500)
		s.c.handleDatagram(epoch, m.Raw, netip.AddrPortFrom(ipA, 4500), 4500)
		s.c.TakeOut()
		s.c.FireTimers(epoch.Add(time3m))
		s.c.TakeOut()
		// The same body unprotected and with a broken hash must change nothing.
		bad := bytes.Clone(m.Raw)
		binary.BigEndian.PutUint32(bad[20:], mid^1)
		s.c.handleDatagram(epoch, bad, netip.AddrPortFrom(ipA, 4500), 4500)
	})
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

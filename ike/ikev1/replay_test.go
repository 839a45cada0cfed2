package ikev1

// Replays of recorded strongSwan sessions through our engine core. Our side's randomness
// (cookie, nonces, DH values, SPIs, message IDs, the faked NAT-D hash) is pinned to what
// the recorded strongSwan peer used, so our messages must come out byte for byte as
// strongSwan's did wherever IKE defines them exactly (everything but vendor IDs and the
// order of payloads in first messages); the other side's recorded messages must then
// decrypt, verify and install, and the child SA keys must be the ones charon logged.

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/core/coretest"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

// fakeDH is a key exchange with recorded values.
type fakeDH struct {
	group       uint16
	pub, secret []byte
}

func (f *fakeDH) Group() uint16  { return f.group }
func (f *fakeDH) Public() []byte { return append([]byte(nil), f.pub...) }
func (f *fakeDH) Wipe()          {}
func (f *fakeDH) SharedSecret([]byte) (crypto.Key, error) {
	return crypto.Key(append([]byte(nil), f.secret...)), nil
}

// queue hands out values in order and fails the test when it runs dry.
type queue[T any] struct {
	t    testing.TB
	what string
	v    []T
}

func (q *queue[T]) next() T {
	q.t.Helper()
	if len(q.v) == 0 {
		q.t.Fatalf("replay: no more %s", q.what)
	}
	x := q.v[0]
	q.v = q.v[1:]
	return x
}

// spiDP is a fakeDP whose AllocSPI hands out recorded SPIs.
type spiDP struct {
	*coretest.FakeDP
	spis *queue[uint32]
}

func (d *spiDP) AllocSPI(io.Reader) (uint32, error) {
	return d.spis.next(), nil
}

// replaySide is our core set up to play one side of a recording.
type replaySide struct {
	t     *testing.T
	r     *recording
	c     *Protocol
	dp    *coretest.FakeDP
	logs  *observer.ObservedLogs
	addr  netip.Addr
	peer  netip.Addr
	conn  *core.Connection
	child *core.Child
}

func newReplaySide(t *testing.T, r *recording, initiator bool) *replaySide {
	ikeP := mustProposals(t, crypto.ProtoIKEv1, true, r.conf["proposals"])
	espP := mustProposals(t, crypto.ProtoESP, true, r.conf["esp_proposals"])
	s := &replaySide{t: t, r: r, addr: ipB, peer: ipA}
	local, remote := "198.51.100.1/32", "192.0.2.1/32"
	lid, rid := "right.test", "left.test"
	if initiator {
		s.addr, s.peer = ipA, ipB
		local, remote, lid, rid = remote, local, rid, lid
	}
	s.child = &core.Child{Name: "net", LocalTS: []esp.Selector{sel(local)}, RemoteTS: []esp.Selector{sel(remote)},
		ESPProposals: espP, RekeyTime: time.Hour, ReplayWindow: 64}
	s.conn = &core.Connection{Version: 1, Name: "c", Aggressive: r.aggressive(), LocalAddr: s.addr,
		LocalID: core.FQDNIdentity(lid), RemoteID: core.FQDNIdentity(rid), PSK: crypto.Key(recordedPSK),
		Proposals: ikeP, RekeyTime: 4 * time.Hour, Encap: "udp", InsecureAlgorithms: true,
		Children: []*core.Child{s.child}}
	if initiator {
		s.conn.RemoteAddr = s.peer
	}
	obsCore, logs := observer.New(zap.DebugLevel)
	s.logs = logs
	s.dp = coretest.NewFakeDP()
	c, err := newTestCore(core.Config{Connections: []*core.Connection{s.conn}, Dataplane: s.dp, Rand: coretest.NewSeededRand(9),
		Log: zap.New(obsCore), LocalAddrFor: func(netip.Addr) netip.Addr { return s.addr }}, core.NewCounters())
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	return s
}

// pin sets the hooks and SPIs from queues.
func (s *replaySide) pin(cookie isakmp.Cookie, nonces [][]byte, dhs []keyExchange, natd [][]byte, mids []uint32, spis []uint32) {
	nq := &queue[[]byte]{s.t, "nonces", nonces}
	dq := &queue[keyExchange]{s.t, "DH values", dhs}
	fq := &queue[[]byte]{s.t, "faked NAT-D hashes", natd}
	mq := &queue[uint32]{s.t, "message IDs", mids}
	s.c.hooks = testHooks{
		cookie:   func() isakmp.Cookie { return cookie },
		nonce:    nq.next,
		dh:       func(uint16) (keyExchange, error) { return dq.next(), nil },
		fakeNATD: func(int) []byte { return fq.next() },
		mid:      mq.next,
	}
	s.c.DP = &spiDP{FakeDP: s.dp, spis: &queue[uint32]{s.t, "SPIs", spis}}
}

// feed delivers a recorded message from the peer and returns what we sent back.
func (s *replaySide) feed(m recMsg) []core.Outgoing {
	s.t.Helper()
	port := uint16(500)
	if m.port == "4500" {
		port = 4500
	}
	s.c.handleDatagram(epoch, m.raw, netip.AddrPortFrom(s.peer, port), port)
	return s.c.TakeOut()
}

func (s *replaySide) expectSame(out []core.Outgoing, want recMsg) {
	s.t.Helper()
	if len(out) != 1 {
		s.dumpLogs()
		s.t.Fatalf("sent %d messages where strongSwan sent %s", len(out), want.label)
	}
	if !bytes.Equal(out[0].Msg, want.raw) {
		s.dumpLogs()
		s.t.Fatalf("our %s differs from strongSwan's:\n ours   %x\n theirs %x", want.label, out[0].Msg, want.raw)
	}
	wantNATT := want.port == "4500"
	if out[0].NATT != wantNATT || out[0].To.Port() != map[bool]uint16{true: 4500, false: 500}[wantNATT] {
		s.t.Fatalf("%s sent to %s natt=%v, strongSwan used port %s", want.label, out[0].To, out[0].NATT, want.port)
	}
}

func (s *replaySide) dumpLogs() {
	for _, e := range s.logs.All() {
		s.t.Logf("%s %s %v", e.Level, e.Message, fieldsString(e.Context))
	}
}

// samePayload compares the body of the first payload of type T in two chains.
func samePayload[T isakmp.Payload](t *testing.T, what string, ours, theirs *isakmp.Chain) {
	t.Helper()
	_, i := payloadOf[T](ours)
	_, j := payloadOf[T](theirs)
	if i < 0 || j < 0 {
		t.Fatalf("%s: payload missing (ours %d, theirs %d)", what, i, j)
	}
	eq(t, what, ours.Body(i), theirs.Body(j))
}

func decode(t *testing.T, raw []byte) *isakmp.Message {
	t.Helper()
	m, err := isakmp.DecodeMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// recordedQM returns the Quick Mode values of a recording.
type recordedQM struct {
	mid        uint32
	ni, nr     []byte
	kei, ker   []byte
	spiI, spiR uint32
}

func (r *recording) qmValues(t *testing.T) recordedQM {
	p := r.phase1(t)
	ciph, _ := newIKECipher(p.tr.enc, r.val(t, "i", "encryption_key_Ka", 0))
	ivs := r.vals["i IV_0"]
	qms := r.quickModes()
	q := recordedQM{mid: qms[0].msg.Header.MessageID}
	iv := phase2IV(p.tr.hash.Hash, ivs[len(ivs)-1], q.mid, ciph.bs)
	c1, iv := decryptRecorded(t, ciph, iv, qms[0].msg)
	c2, _ := decryptRecorded(t, ciph, iv, qms[1].msg)
	n1, _ := mustPayload[*isakmp.Nonce](t, c1)
	n2, _ := mustPayload[*isakmp.Nonce](t, c2)
	q.ni, q.nr = n1.Data, n2.Data
	s1, _ := mustPayload[*isakmp.SA](t, c1)
	s2, _ := mustPayload[*isakmp.SA](t, c2)
	q.spiI, q.spiR = be32u(s1.Proposals[0].SPI), be32u(s2.Proposals[0].SPI)
	if k, i := payloadOf[*isakmp.KeyExchange](c1); i >= 0 {
		q.kei = k.Data
		k2, _ := mustPayload[*isakmp.KeyExchange](t, c2)
		q.ker = k2.Data
	}
	return q
}

// secondNATD returns the (faked) source NAT-D hash of a plaintext message.
func secondNATD(t *testing.T, c *isakmp.Chain) []byte {
	var hs [][]byte
	for _, p := range c.Payloads {
		if n, ok := p.(*isakmp.NATDiscovery); ok {
			hs = append(hs, n.Hash)
		}
	}
	if len(hs) != 2 {
		t.Fatalf("%d NAT-D payloads", len(hs))
	}
	return hs[1]
}

func TestReplayStrongSwanInitiatorToOurResponder(t *testing.T) {
	for _, name := range recordingNames {
		t.Run(name, func(t *testing.T) { replayResponder(t, loadRecording(t, name)) })
	}
}

func replayResponder(t *testing.T, r *recording) {
	p := r.phase1(t)
	q := r.qmValues(t)
	s := newReplaySide(t, r, false)
	dhs := []keyExchange{&fakeDH{p.tr.group.Group, p.gxr, r.val(t, "r", "shared_Diffie_Hellman_secret", 0)}}
	if q.ker != nil {
		dhs = append(dhs, &fakeDH{p.tr.group.Group, q.ker, r.val(t, "r", "DH_secret", 0)})
	}
	var natd [][]byte
	if r.aggressive() {
		natd = [][]byte{secondNATD(t, &r.msg(t, "AM2").msg.Chain)}
	} else {
		natd = [][]byte{secondNATD(t, &r.msg(t, "MM4").msg.Chain)}
	}
	// Our Informational answers (DPD acknowledgements) reuse the recorded message IDs.
	var mids []uint32
	for _, m := range r.informationals() {
		if m.from == "r" {
			mids = append(mids, m.msg.Header.MessageID)
		}
	}
	s.pin(p.ckyR, [][]byte{p.nr, q.nr}, dhs, natd, mids, []uint32{q.spiR})

	if r.aggressive() {
		out := s.feed(r.msg(t, "AM1"))
		if len(out) != 1 {
			s.dumpLogs()
			t.Fatalf("no answer to AM1")
		}
		ours, theirs := decode(t, out[0].Msg), r.msg(t, "AM2").msg
		samePayload[*isakmp.SA](t, "AM2 SA", &ours.Chain, &theirs.Chain)
		samePayload[*isakmp.KeyExchange](t, "AM2 KE", &ours.Chain, &theirs.Chain)
		samePayload[*isakmp.Nonce](t, "AM2 Nonce", &ours.Chain, &theirs.Chain)
		samePayload[*isakmp.Identification](t, "AM2 IDir", &ours.Chain, &theirs.Chain)
		samePayload[*isakmp.Hash](t, "AM2 HASH_R", &ours.Chain, &theirs.Chain)
		if out := s.feed(r.msg(t, "AM3")); len(out) != 0 {
			t.Fatalf("answered AM3 with %d messages", len(out))
		}
	} else {
		out := s.feed(r.msg(t, "MM1"))
		if len(out) != 1 {
			s.dumpLogs()
			t.Fatal("no answer to MM1")
		}
		samePayload[*isakmp.SA](t, "MM2 SA", &decode(t, out[0].Msg).Chain, &r.msg(t, "MM2").msg.Chain)
		s.expectSame(s.feed(r.msg(t, "MM3")), r.msg(t, "MM4"))
		s.expectSame(s.feed(r.msg(t, "MM5")), r.msg(t, "MM6"))
	}
	cs := connNamed(s.c, "c")
	if cs.Current() == nil {
		s.dumpLogs()
		t.Fatal("ISAKMP SA not established")
	}
	// Quick Mode (with strongSwan's retransmissions, answered from the reply cache).
	qms := r.quickModes()
	var qm2 []byte
	for _, m := range r.msgs {
		if m.msg.Header.ExchangeType != isakmp.ExchangeQuickMode || m.from != "i" {
			continue
		}
		out := s.feed(m)
		if bytes.Equal(m.raw, qms[0].raw) {
			s.expectSame(out, qms[1])
			if qm2 != nil && !bytes.Equal(qm2, out[0].Msg) {
				t.Fatal("a retransmitted QM1 got a different answer")
			}
			qm2 = out[0].Msg
		}
	}
	ch := cs.Child("net").Newest()
	if ch == nil || !ch.Bound() {
		s.dumpLogs()
		t.Fatal("child SA not installed")
	}
	checkRecordedChildKeys(t, r, ch, q, false)
	// The rest: DPD (answered byte for byte as strongSwan did) and the Deletes.
	for _, m := range r.informationals() {
		if m.from != "i" {
			continue
		}
		out := s.feed(m)
		if len(out) > 0 {
			var want recMsg
			for _, x := range r.informationals() {
				if x.from == "r" && x.msg.Header.MessageID == decode(t, out[0].Msg).Header.MessageID {
					want = x
				}
			}
			if want.raw == nil {
				t.Fatalf("unexpected answer to %s", m.label)
			}
			s.expectSame(out, want)
		}
	}
	if cs.Current() != nil || len(cs.Child("net").SAs) != 0 || len(s.dp.InboundSPIs()) != 0 {
		s.dumpLogs()
		t.Fatal("SAs left after strongSwan's Deletes")
	}
}

// checkRecordedChildKeys compares our installed SAs with the keys charon logged.
func checkRecordedChildKeys(t *testing.T, r *recording, ch *core.ChildSA, q recordedQM, initiator bool) {
	t.Helper()
	// "initiator" keys protect initiator -> responder traffic (SPI chosen by the responder).
	toResp, toInit := outOf(ch), inOf(ch)
	if !initiator {
		toResp, toInit = inOf(ch), outOf(ch)
	}
	if toResp.SPI() != q.spiR || toInit.SPI() != q.spiI {
		t.Fatalf("SPIs %08x/%08x, recorded %08x/%08x", toResp.SPI(), toInit.SPI(), q.spiR, q.spiI)
	}
	eq(t, "encryption key initiator->responder", toResp.Config().EncKey, r.val(t, "i", "encryption_initiator_key", 0))
	eq(t, "encryption key responder->initiator", toInit.Config().EncKey, r.val(t, "i", "encryption_responder_key", 0))
	if ch.Params().Integ != nil {
		eq(t, "integrity key initiator->responder", toResp.Config().IntegKey, r.val(t, "i", "integrity_initiator_key", 0))
		eq(t, "integrity key responder->initiator", toInit.Config().IntegKey, r.val(t, "i", "integrity_responder_key", 0))
	}
	if ch.Params().Encap != esp.EncapUDP || ch.Params().Peer.Port() != 4500 {
		t.Fatalf("child SA uses %s to %s; strongSwan forces UDP encapsulation on 4500", ch.Params().Encap, ch.Params().Peer)
	}
}

func TestReplayOurInitiatorToStrongSwanResponder(t *testing.T) {
	for _, name := range recordingNames {
		t.Run(name, func(t *testing.T) { replayInitiator(t, loadRecording(t, name)) })
	}
}

func replayInitiator(t *testing.T, r *recording) {
	p := r.phase1(t)
	q := r.qmValues(t)
	s := newReplaySide(t, r, true)
	dhs := []keyExchange{&fakeDH{p.tr.group.Group, p.gxi, r.val(t, "i", "shared_Diffie_Hellman_secret", 0)}}
	if q.kei != nil {
		dhs = append(dhs, &fakeDH{p.tr.group.Group, q.kei, r.val(t, "i", "DH_secret", 0)})
	}
	var natd [][]byte
	if r.aggressive() {
		c, _ := decryptRecorded(t, mustCipher(t, r, p), r.val(t, "i", "initial_IV", 0), r.msg(t, "AM3").msg)
		natd = [][]byte{secondNATD(t, c)}
	} else {
		natd = [][]byte{secondNATD(t, &r.msg(t, "MM3").msg.Chain)}
	}
	// Our Deletes at the end reuse the message IDs of strongSwan's (the last two it sent).
	var infos []recMsg
	for _, m := range r.informationals() {
		if m.from == "i" {
			infos = append(infos, m)
		}
	}
	deletes := infos[len(infos)-2:]
	s.pin(p.ckyI, [][]byte{p.ni, q.ni}, dhs, natd,
		[]uint32{q.mid, deletes[0].msg.Header.MessageID, deletes[1].msg.Header.MessageID}, []uint32{q.spiI})

	cs := connNamed(s.c, "c")
	cs.BringUp(epoch, cs.Children)
	out := s.c.TakeOut()
	if len(out) != 1 {
		t.Fatalf("sent %d first messages", len(out))
	}
	first := r.phase1Labels()[0]
	ours := decode(t, out[0].Msg)
	samePayload[*isakmp.SA](t, first+" SA (SAi_b)", &ours.Chain, &r.msg(t, first).msg.Chain)
	if r.aggressive() {
		samePayload[*isakmp.KeyExchange](t, "AM1 KE", &ours.Chain, &r.msg(t, "AM1").msg.Chain)
		samePayload[*isakmp.Identification](t, "AM1 IDii", &ours.Chain, &r.msg(t, "AM1").msg.Chain)
		out = s.feed(r.msg(t, "AM2"))
		if len(out) != 1 {
			t.Fatalf("sent %d messages after AM2, want AM3 alone", len(out))
		}
		s.expectSame(out, r.msg(t, "AM3"))
		// Established: our QM1 follows once AM3 has had amSettle to be processed.
		s.c.FireTimers(epoch.Add(amSettle))
		s.expectSame(s.c.TakeOut(), r.quickModes()[0])
	} else {
		s.expectSame(s.feed(r.msg(t, "MM2")), r.msg(t, "MM3"))
		s.expectSame(s.feed(r.msg(t, "MM4")), r.msg(t, "MM5"))
		out = s.feed(r.msg(t, "MM6"))
		s.expectSame(out, r.quickModes()[0]) // established: our QM1 goes out at once
	}
	s.expectSame(s.feed(r.quickModes()[1]), r.quickModes()[2])
	ch := cs.Child("net").Newest()
	if ch == nil || !ch.Bound() {
		s.dumpLogs()
		t.Fatal("child SA not installed")
	}
	checkRecordedChildKeys(t, r, ch, q, true)
	// Terminate: our two Deletes are strongSwan's, byte for byte.
	cs.Terminate(epoch, ErrDeleted)
	out = s.c.TakeOut()
	if len(out) != 2 {
		t.Fatalf("%d messages on terminate, want 2 Deletes", len(out))
	}
	s.expectSame(out[:1], deletes[0])
	s.expectSame(out[1:], deletes[1])
	if len(s.dp.InboundSPIs()) != 0 || connNamed(s.c, "c").Child("net").Policy.Binding() != nil {
		t.Fatal("SAs left after Terminate")
	}
}

func mustCipher(t *testing.T, r *recording, p recordedP1) *ikeCipher {
	c, err := newIKECipher(p.tr.enc, r.val(t, "i", "encryption_key_Ka", 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

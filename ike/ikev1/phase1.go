package ikev1

// The ISAKMP SA (Phase 1, RFC 2409 §5) shared by Main Mode and Aggressive Mode: its state,
// keys, IV chains, message protection and life cycle. mainmode.go and aggressive.go hold
// the exchanges; informational.go, quickmode.go and dpd.go use the established SA.

import (
	"errors"
	"fmt"
	"net/netip"
	"oakley/ike/core"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

// keyExchange is one side of a Diffie-Hellman exchange (*crypto.DH; replay tests inject
// recorded values).
type keyExchange interface {
	Group() uint16
	Public() []byte
	SharedSecret(peer []byte) (crypto.Key, error)
	Wipe()
}

type p1State int

const (
	p1Start p1State = iota
	p1MM1Sent
	p1MM3Sent
	p1MM5Sent
	p1AM1Sent
	p1MM2Sent
	p1MM4Sent
	p1AM2Sent
	p1Established
	p1Dead
)

var p1StateNames = map[p1State]string{
	p1Start: "start", p1MM1Sent: "MM1 sent", p1MM3Sent: "MM3 sent", p1MM5Sent: "MM5 sent",
	p1AM1Sent: "AM1 sent", p1MM2Sent: "MM2 sent", p1MM4Sent: "MM4 sent", p1AM2Sent: "AM2 sent",
	p1Established: "established", p1Dead: "deleted",
}

func (s p1State) String() string { return p1StateNames[s] }

// phase1Keys is what SKEYID gives (RFC 2409 §5, Appendix B).
type phase1Keys struct {
	prf                                   *crypto.PRF
	skeyid, skeyidD, skeyidA, skeyidE, ka crypto.Key
	cipher                                *ikeCipher
}

func (k *phase1Keys) wipe() {
	if k != nil {
		wipeAll(&k.skeyid, &k.skeyidD, &k.skeyidA, &k.skeyidE, &k.ka)
	}
}

// ikeSA is one ISAKMP SA. Owned by the core's goroutine. Its shared state (connection,
// role, addresses, times, half-open entry, DPD) is the embedded core.SABase.
type ikeSA struct {
	core.SABase
	c          *Protocol
	candidates []*core.Conn // responder: connections that may match before the ID is known
	aggressive bool
	ckyI, ckyR isakmp.Cookie
	state      p1State
	first      firstKey // responder: how its MM1/AM1 is indexed
	firstLen   int      // responder: the size of that first message (the amplification bound)
	// undecryptable counts encrypted answers to MM5 that did not decrypt (initiator).
	undecryptable int
	// madePairs: a Quick Mode completed under this SA, so the peer accepted us (a Delete
	// of it soon after Phase 1 is then no refusal).
	madePairs bool
	// heardProtected: a Quick Mode, Informational or transaction message from the peer
	// verified under this SA (so it has the keys and the Phase 2 IVs; quickModeHold).
	heardProtected bool

	offer     []p1Transform // initiator
	tr        p1Transform   // negotiated
	auth      authenticator
	saiB      []byte // body of the initiator's SA payload (SAi_b)
	dh        keyExchange
	gxi, gxr  []byte
	ni, nr    []byte
	keys      *phase1Keys
	iv        []byte // Phase 1 IV chain; after Phase 1: the last Phase 1 CBC block
	p2ivs     map[uint32][]byte
	localIDP  *isakmp.Identification
	peerID    *isakmp.Identification
	peerIDB   []byte    // Aggressive Mode responder: IDii_b until HASH_I arrives
	lastReply []byte    // responder: our last Phase 1 answer
	nudgedAt  time.Time // Aggressive Mode responder: when AM2 was last re-sent
	lifetime  time.Duration
	reauthAt  time.Time
	expiresAt time.Time
	ext       extensions
	nat       natState
	cert      certState // certificates: CERTREQs received, the peer's verified certificate
	pke       pkeState  // public-key encryption: the peer's key, decryption outcome
	frag      fragState // IKEv1 fragmentation of what we send
	dpdSeq    uint32    // RFC 3706: the last R-U-THERE sequence number sent
	tx        txState   // XAUTH and Mode Config after Phase 1 (transaction.go)
	phase1At  time.Time // when Phase 1 completed

	retrans *core.Retransmitter
	replies core.ReplyCache
	mids    []uint32 // recent Phase 2 / Informational message IDs
	qms     map[uint32]*quickMode

	reauthTimer *core.Timer
	expireTimer *core.Timer
	keepalive   *core.Timer
	deleteTimer *core.Timer
	settleTimer *core.Timer // Aggressive Mode initiator: children start a moment after AM3

	// Deletes of pairs held back while a Quick Mode runs (SendDeleteChildren), by protocol,
	// and the timer that sends them at the latest.
	heldESP, heldAH []uint32
	holdTimer       *core.Timer

	// sent counts the datagrams of this SA handed to the socket (out); lastDelete is the
	// Delete that may go again, byte for byte, while nothing follows it (repeatDelete).
	sent        uint64
	lastDelete  deleteRepeat
	repeatTimer *core.Timer
}

// deleteRepeat is a sent Delete that repeatDelete may send again.
type deleteRepeat struct {
	raw   []byte
	after uint64 // sa.sent right after it left
	left  int    // copies still to go
}

// Base gives the core the shared state.
func (sa *ikeSA) Base() *core.SABase { return &sa.SABase }

func newIKESA(c *Protocol, initiator bool) *ikeSA {
	sa := &ikeSA{c: c, p2ivs: map[uint32][]byte{}, qms: map[uint32]*quickMode{}}
	sa.Initiator = initiator
	sa.retrans = c.NewRetransmitter(sa.dest, sa.retransmitGiveUp)
	sa.reauthTimer = core.NewTimer("reauth", sa.reauthDue)
	sa.expireTimer = core.NewTimer("expire", sa.hardExpired)
	sa.keepalive = core.NewTimer("keepalive", sa.sendKeepalive)
	sa.deleteTimer = core.NewTimer("delete", func(now time.Time) {
		if sa.Retiring() { // else the core kept it after all (its replacement died first)
			sa.destroy(now, true, fmt.Errorf("%w: replaced", ErrDeleted))
		}
	})
	sa.settleTimer = core.NewTimer("settle", func(now time.Time) {
		if sa.state == p1Established {
			sa.c.Established(now, sa)
		}
	})
	sa.holdTimer = core.NewTimer("held-deletes", func(time.Time) { sa.flushDeletes(nil, nil) })
	sa.repeatTimer = core.NewTimer("repeat-delete", sa.repeatDelete)
	return sa
}

// dest is where the SA's messages go: from our address, to the peer, on which port.
func (sa *ikeSA) dest() (netip.Addr, netip.AddrPort, bool) { return sa.Local, sa.Remote, sa.NATT }

// send sends a message of this SA to the peer.
func (sa *ikeSA) send(msg []byte) { sa.transmit(msg, sa.Local, sa.Remote, sa.NATT) }

// newInitiatorSA starts an ISAKMP SA towards a connection's peer.
func newInitiatorSA(c *Protocol, cs *core.Conn, now time.Time) *ikeSA {
	sa := newIKESA(c, true)
	sa.Conn = cs
	sa.aggressive = cs.Cfg.Aggressive
	sa.ckyI = c.newCookie()
	sa.Remote = netip.AddrPortFrom(cs.Cfg.RemoteAddr, cs.Cfg.RemoteIKEPort())
	sa.NATT = cs.Cfg.RemoteIKEPort() == cs.Cfg.RemoteNATTPortOf()
	sa.Local = cs.Cfg.LocalAddr
	sa.Created = now
	sa.auth = newAuthenticator(cs.Cfg, 0)
	sa.retrans.Transmit = sa.transmit
	sa.setLog()
	c.initiating[sa.ckyI] = sa
	return sa
}

// newResponderSA creates the state for a first message from a peer.
func newResponderSA(c *Protocol, in *inbound) *ikeSA {
	sa := newIKESA(c, false)
	sa.ckyI = in.msg.Header.InitiatorCookie
	sa.ckyR = c.newCookie()
	sa.Remote = in.From
	sa.NATT = in.NATT
	sa.Local = in.Local.Addr()
	sa.first = firstKey{sa.ckyI, in.From}
	sa.firstLen = len(in.Raw)
	sa.Created = c.Now
	sa.aggressive = in.msg.Header.ExchangeType == isakmp.ExchangeAggressive
	sa.retrans.Transmit = sa.transmit
	sa.setLog()
	return sa
}

func (sa *ikeSA) setLog() {
	f := []zap.Field{zap.Stringer("icookie", sa.ckyI), zap.Stringer("peer", sa.Remote)}
	if sa.Conn != nil {
		f = append(f, zap.String("conn", sa.Conn.Cfg.Name))
	}
	sa.Log = sa.c.Log.With(f...)
}

func (sa *ikeSA) established() bool { return sa.state == p1Established }

func (sa *ikeSA) modeName() string {
	if sa.aggressive {
		return "Aggressive Mode"
	}
	return "Main Mode"
}

// handle dispatches a message that belongs to this SA (RFC 2408 §5; exchanges §4).
func (sa *ikeSA) handle(now time.Time, in *inbound) {
	if sa.state == p1Dead {
		sa.c.Ctr.Inc(core.CtrInvalidCookie)
		return
	}
	// A retransmitted request: answer again, never process twice (RFC 2408 §5 leaves
	// duplicates to the implementation; RFC 2409 expects the last reply again).
	if reply, seen := sa.replies.Lookup(in.Hash); seen {
		sa.c.Ctr.Inc(core.CtrDuplicates)
		if reply == nil {
			return
		}
		// The stored reply goes back only to the address the SA knows (a replayed request
		// must not bounce it at anyone): the peer's, or its NAT-T port after a float
		// (RFC 3947 §4) from the same address.
		if in.From != sa.Remote && !(in.From.Addr() == sa.Remote.Addr() && in.NATT) {
			sa.c.Ctr.Inc(core.CtrRepliesMisdirected)
			sa.Log.Debug("not answering a duplicate from an address this SA does not know", zap.Stringer("from", in.From))
			return
		}
		// The initiator is still trying: a half-open SA waits for it, 30 s from this copy,
		// or as long as its retransmissions may go on once it answered (core/halfopen.go).
		sa.c.Heard(sa.HalfOpen, now)
		sa.transmit(reply, sa.Local, in.From, in.NATT)
		return
	}
	if sa.nudgeForAM3(now, in) {
		return
	}
	var err error
	switch in.msg.Header.ExchangeType {
	case isakmp.ExchangeMainMode:
		if sa.aggressive {
			err = fail(0, ErrUnexpected, "Main Mode message for an Aggressive Mode SA")
			break
		}
		err = sa.handleMainMode(now, in)
	case isakmp.ExchangeAggressive:
		if !sa.aggressive {
			err = fail(0, ErrUnexpected, "Aggressive Mode message for a Main Mode SA")
			break
		}
		err = sa.handleAggressive(now, in)
	case isakmp.ExchangeInformational:
		err = sa.handleInformational(now, in)
	case isakmp.ExchangeQuickMode:
		err = sa.handleQuickMode(now, in)
	case isakmp.ExchangeTransaction:
		err = sa.handleTransaction(now, in)
	default:
		sa.c.Ctr.Inc(core.CtrInvalidExchange)
		sa.Log.Info("ignoring exchange", zap.Stringer("exchange", in.msg.Header.ExchangeType))
		return
	}
	if err != nil && !errors.Is(err, errStop) {
		sa.Log.Debug("message rejected", zap.Error(err))
	}
}

// Message protection (RFC 2409 Appendix B).

// ivFor returns the current IV of an exchange: the Phase 1 chain for M-ID 0, else the
// exchange's own chain, started from hash(last Phase 1 block | M-ID).
func (sa *ikeSA) ivFor(mid uint32, chained bool) []byte {
	if mid == 0 {
		return sa.iv
	}
	if iv, ok := sa.p2ivs[mid]; ok && chained {
		return iv
	}
	return phase2IV(sa.tr.hash.Hash, sa.iv, mid, sa.keys.cipher.bs)
}

// encode builds a message. With encrypt, the chain is padded, encrypted with the
// exchange's IV and the chain advanced (chained: Phase 1 and Quick Mode; Informational
// exchanges are one message each and start from a fresh IV, as strongSwan does). hashFn,
// if set, fills the leading HASH payload from the bytes after it (RFC 2409 §5.5, §5.7).
func (sa *ikeSA) encode(exch isakmp.ExchangeType, mid uint32, payloads []isakmp.Payload, encrypt, chained bool, hashFn func(rest []byte) []byte) ([]byte, error) {
	h := isakmp.Header{InitiatorCookie: sa.ckyI, ResponderCookie: sa.ckyR, ExchangeType: exch, MessageID: mid}
	chain, err := isakmp.EncodePayloads(payloads)
	if err != nil {
		return nil, err
	}
	if hashFn != nil {
		body := chain.Bytes[chain.Spans[0].Start+4 : chain.Spans[0].End]
		copy(body, hashFn(chain.Bytes[chain.Spans[0].End:]))
	}
	if !encrypt {
		m, err := isakmp.EncodeMessage(h, payloads)
		if err != nil {
			return nil, err
		}
		if hashFn != nil {
			copy(m.Raw[isakmp.HeaderLen:], chain.Bytes)
		}
		return m.Raw, nil
	}
	ct, next := sa.keys.cipher.encrypt(sa.ivFor(mid, chained), sa.keys.cipher.pad(chain.Bytes))
	sa.commitIV(mid, next, chained)
	m, err := isakmp.EncodeEncrypted(h, payloads[0].Type(), ct)
	if err != nil {
		return nil, err
	}
	return m.Raw, nil
}

// decrypted is a decrypted body with the IV its verification commits.
type decrypted struct {
	chain *isakmp.Chain
	next  []byte
}

// decrypt decrypts an encrypted message with the exchange's IV. The IV chain advances only
// when the caller commits after verifying the message, so a forged or corrupted message
// cannot desynchronise it.
func (sa *ikeSA) decrypt(m *isakmp.Message, chained bool) (*decrypted, error) {
	if sa.keys == nil {
		return nil, fail(0, ErrUnexpected, "encrypted message before keys exist")
	}
	plain, next, err := sa.keys.cipher.decrypt(sa.ivFor(m.Header.MessageID, chained), m.Encrypted)
	if err != nil {
		sa.c.Ctr.Inc(core.CtrDecryptFailures)
		return nil, malformed("decrypting", err)
	}
	chain, err := isakmp.DecodePayloads(m.Header.NextPayload, plain, isakmp.DecodeOptions{AllowPadding: true})
	crypto.Wipe(plain)
	if err != nil {
		sa.c.Ctr.Inc(core.CtrDecryptFailures)
		return nil, malformed("decrypted payloads", err)
	}
	return &decrypted{chain: chain, next: next}, nil
}

// commitIV advances an IV chain after a verified (or sent) message.
func (sa *ikeSA) commitIV(mid uint32, next []byte, chained bool) {
	switch {
	case mid == 0:
		sa.iv = next
	case chained:
		sa.p2ivs[mid] = next
	}
}

// deriveKeys computes g^xy, SKEYID and its family, Ka and the Phase 1 IV (RFC 2409 §5,
// Appendix B). The peer's KE value is checked by SharedSecret (RFC 6989).
func (sa *ikeSA) deriveKeys(peerKE []byte) error {
	prf, err := crypto.NewPRF(sa.tr.hash)
	if err != nil {
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
	}
	gxy, err := sa.dh.SharedSecret(peerKE)
	if err != nil && sa.usesPKE() {
		// The KE of the revised mode was encrypted: a bad one must fail where every other
		// bad decryption does, at the HASH check (pke.go).
		sa.pke.bad = 1
		gxy, err = crypto.Key(sa.c.RandBytes(len(peerKE))), nil
	}
	if err != nil {
		return fail(isakmp.NotifyInvalidKeyInformation, ErrInvalidKE, "%v", err)
	}
	defer gxy.Wipe()
	k := &phase1Keys{prf: prf}
	k.skeyid = sa.auth.skeyid(prf, skeyidInput{niB: sa.ni, nrB: sa.nr, gxy: gxy, ckyI: sa.ckyI, ckyR: sa.ckyR})
	k.skeyidD, k.skeyidA, k.skeyidE = skeyidFamily(prf, k.skeyid, gxy, sa.ckyI, sa.ckyR)
	k.ka = encryptionKey(prf, k.skeyidE, sa.tr.enc.KeyLen())
	if k.cipher, err = newIKECipher(sa.tr.enc, k.ka); err != nil {
		k.wipe()
		return fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
	}
	sa.keys = k
	sa.c.Cfg.KeyLog.IKEv1(sa.ckyI[:], k.ka)
	sa.iv = phase1IV(sa.tr.hash.Hash, sa.gxi, sa.gxr, k.cipher.bs)
	sa.dh.Wipe()
	return nil
}

// ourHash and peerHash are HASH_I / HASH_R from each side's view (RFC 2409 §5).
// Their PRF is the negotiated one, except for ECDSA signatures (authenticator.hashPRF).
func (sa *ikeSA) ourHash(idB []byte) []byte {
	prf := sa.auth.hashPRF(sa.keys.prf)
	if sa.Initiator {
		return hashI(prf, sa.keys.skeyid, sa.gxi, sa.gxr, sa.ckyI, sa.ckyR, sa.saiB, idB)
	}
	return hashR(prf, sa.keys.skeyid, sa.gxi, sa.gxr, sa.ckyI, sa.ckyR, sa.saiB, idB)
}

func (sa *ikeSA) peerHash(idB []byte) []byte {
	prf := sa.auth.hashPRF(sa.keys.prf)
	if sa.Initiator {
		return hashR(prf, sa.keys.skeyid, sa.gxi, sa.gxr, sa.ckyI, sa.ckyR, sa.saiB, idB)
	}
	return hashI(prf, sa.keys.skeyid, sa.gxi, sa.gxr, sa.ckyI, sa.ckyR, sa.saiB, idB)
}

// localID returns the ID payload we send (RFC 2407 §4.6.2): the configured identity, or
// for %any the address we use.
func (sa *ikeSA) localIDPayload() *isakmp.Identification {
	if sa.localIDP == nil {
		id := sa.Conn.Cfg.LocalID
		if id.Any {
			a := sa.ourIP()
			if !a.IsValid() {
				a = netip.IPv4Unspecified()
			}
			id = core.AddrIdentity(a)
		}
		sa.localIDP = idPayload(id)
	}
	return sa.localIDP
}

// setState moves the state machine and logs it at debug level.
func (sa *ikeSA) setState(s p1State) {
	sa.state = s
	sa.Log.Debug("phase 1 state", zap.Stringer("state", s))
}

// halfOpenExpired ends a responder SA that did not complete in time, or that the core
// evicted from a full half-open table.
func (sa *ikeSA) halfOpenExpired(now time.Time, evicted bool) {
	if sa.state == p1Established || sa.state == p1Dead {
		return
	}
	// Debug, not info: a flood of spoofed first messages expires by the thousand (counted).
	sa.Log.Debug(sa.modeName()+" responder gave up", zap.Stringer("state", sa.state), zap.Bool("evicted", evicted))
	why := "expired"
	if evicted {
		why = "evicted by newer ones"
	}
	sa.destroy(now, false, fmt.Errorf("%w: half-open ISAKMP SA %s in state %s", ErrTimeout, why, sa.state))
}

// retransmitGiveUp ends a Phase 1 exchange whose peer stopped answering. Silence after MM5
// is only blamed on the credentials when an answer came that did not decrypt: a responder
// that forgot the exchange (its half-open state expired or was evicted under load) also
// goes silent, and that is not a key mismatch.
func (sa *ikeSA) retransmitGiveUp(now time.Time) {
	err := fmt.Errorf("%w in state %s after %d transmissions", ErrTimeout, sa.state, sa.retrans.Tries())
	sa.c.Ctr.Inc(core.CtrIKEFailed)
	switch {
	case sa.state == p1MM5Sent && sa.undecryptable > 0:
		err = fmt.Errorf("%w: %d answers to Main Mode message 5 did not decrypt (%s)", ErrAuthenticationFailed, sa.undecryptable, sa.hint())
		sa.Log.Warn("authentication failed", zap.Error(err))
	case sa.state == p1MM5Sent:
		sa.Log.Warn("Main Mode failed: no answer to message 5 (the responder may have dropped the exchange, or rejected our identity or credentials silently)", zap.Error(err))
	default:
		sa.Log.Warn(sa.modeName()+" failed: peer did not answer", zap.Error(err))
	}
	sa.destroy(now, false, err)
}

// establish completes Phase 1: lifetimes, keepalives, and the core's part (DPD, the
// connection's children).
func (sa *ikeSA) establish(now time.Time) {
	sa.retrans.Stop()
	if sa.first.from.IsValid() && sa.c.firsts[sa.first] == sa {
		delete(sa.c.firsts, sa.first)
	}
	sa.setState(p1Established)
	sa.EstablishedAt = now
	sa.LastRecv = now
	sa.SPIKey = sa.cookies()
	if sa.peerID != nil {
		sa.PeerID = core.Identity{Type: core.IDType(sa.peerID.IDType), Data: append([]byte(nil), sa.peerID.Data...)}
	}
	if id := sa.localIDP; id != nil {
		sa.LocalID = core.Identity{Type: core.IDType(id.IDType), Data: append([]byte(nil), id.Data...)}
	}
	// Lifetime: the negotiated one; we re-authenticate before it ends if configured to
	// (the RekeyTime of the connection, with jitter), the peer may do it first.
	sa.lifetime = sa.tr.lifetime()
	sa.expiresAt = now.Add(sa.lifetime)
	sa.c.Timers.Arm(sa.expireTimer, sa.expiresAt)
	if _, reauth := sa.Conn.Cfg.Lifetime(); reauth && sa.Conn.Cfg.CanInitiate() {
		at := min(sa.Conn.Cfg.RekeyTime, sa.lifetime*9/10)
		sa.reauthAt = now.Add(sa.c.Jitter(at, 0.05))
		sa.c.Timers.Arm(sa.reauthTimer, sa.reauthAt)
	}
	if sa.nat.local {
		sa.c.Timers.Arm(sa.keepalive, now.Add(core.KeepaliveEvery))
	}
	sa.Log.Info(fmt.Sprintf("ISAKMP SA established (%s)", sa.modeName()),
		zap.Bool("initiator", sa.Initiator), zap.Stringer("rcookie", sa.ckyR),
		zap.String("proposal", sa.tr.String()), zap.String("remote_id", idOfPayload(sa.peerID)),
		zap.Bool("nat_local", sa.nat.local), zap.Bool("nat_remote", sa.nat.remote), zap.Bool("natt", sa.NATT))
	sa.phase1At = now
	if sa.startTransactions(now) {
		// XAUTH / Mode Config first: the core hears of the SA when they completed
		// (transaction.go), so no Quick Mode starts before.
		sa.EstablishedAt = time.Time{}
		return
	}
	sa.reportEstablished(now)
}

// reportEstablished tells the core the SA is up (its children may start).
func (sa *ikeSA) reportEstablished(now time.Time) {
	sa.armModeCfgPush(now)
	if sa.aggressive && sa.Initiator && !sa.tx.started {
		// AM3 and our first Quick Mode leave back to back; a multi-threaded responder
		// (strongSwan) may take up the Quick Mode before it has finished AM3 and drop it
		// ("ignoring QUICK_MODE request while phase 1 is incomplete"), costing a
		// retransmission. A short pause lets AM3 settle first.
		sa.c.Timers.Arm(sa.settleTimer, now.Add(amSettle))
		return
	}
	sa.c.Established(now, sa)
}

func (sa *ikeSA) reauthDue(now time.Time) {
	if sa.state != p1Established || sa.Conn == nil || sa.Retiring() {
		return
	}
	sa.c.Ctr.Inc(core.CtrIKEReauths)
	sa.Log.Info("re-authenticating ISAKMP SA")
	if !sa.Conn.Reauth(now, sa) {
		// Try again later while the SA lives.
		sa.c.Timers.Arm(sa.reauthTimer, now.Add(30*time.Second))
	}
}

func (sa *ikeSA) hardExpired(now time.Time) {
	sa.Log.Info("ISAKMP SA lifetime expired")
	sa.destroy(now, true, errExpired)
}

// sendKeepalive sends a NAT-keepalive from the NATed side (RFC 3948 §2.3) every 20 s.
func (sa *ikeSA) sendKeepalive(now time.Time) {
	if sa.state != p1Established || !sa.NATT {
		return
	}
	sa.c.SendKeepalive(sa.Local, sa.Remote)
	sa.c.Timers.Arm(sa.keepalive, now.Add(core.KeepaliveEvery))
}

// destroy deletes the SA: optionally a Delete to the peer (RFC 2408 §3.15, SPI = the
// cookies), its Quick Modes, the children it owns (unless another SA adopted them), keys.
func (sa *ikeSA) destroy(now time.Time, sendDelete bool, reason error) {
	if sa.state == p1Dead {
		return
	}
	wasEstablished := sa.state == p1Established
	if sendDelete && sa.keys != nil && wasEstablished {
		// Children no other ISAKMP SA can adopt die with this one: tell the peer first.
		if sa.Conn != nil && sa.Conn.CurrentExcept(sa) == nil {
			for _, csa := range sa.ownedChildren() {
				csa.Remove(now, true, reason)
			}
		}
		sa.flushDeletes(nil, nil) // the pairs' Deletes go before the SA's own
		sa.sendDeleteISAKMP()
	}
	sa.heldESP, sa.heldAH = nil, nil
	sa.lastDelete = deleteRepeat{}
	sa.retrans.Stop()
	sa.txStop()
	for _, t := range []*core.Timer{sa.reauthTimer, sa.expireTimer, sa.keepalive, sa.deleteTimer, sa.settleTimer, sa.holdTimer, sa.repeatTimer} {
		sa.c.Timers.Stop(t)
	}
	for _, qm := range sa.qms {
		qm.abort(now, reason)
	}
	sa.c.forgetSA(sa)
	sa.c.Gone(now, sa, reason)
	sa.setState(p1Dead)
	if sa.dh != nil {
		sa.dh.Wipe()
	}
	sa.keys.wipe()
	sa.auth = nil
}

// DeleteLater deletes the SA (with a Delete to the peer) after a grace period, so messages
// in flight on it still find it.
func (sa *ikeSA) DeleteLater(now time.Time, d time.Duration) {
	sa.c.Timers.Arm(sa.deleteTimer, now.Add(d))
}

// Delete ends the SA (core.IKESA).
func (sa *ikeSA) Delete(now time.Time, sendDelete bool, reason error) {
	sa.destroy(now, sendDelete, reason)
}

// Rekey re-authenticates the ISAKMP SA: IKEv1 has no rekeying of Phase 1, so a new Main
// or Aggressive Mode replaces it and the children move over (core.IKESA).
func (sa *ikeSA) Rekey(now time.Time) {
	sa.c.Ctr.Inc(core.CtrIKEReauths)
	if !sa.Conn.Reauth(now, sa) {
		sa.c.Timers.Arm(sa.reauthTimer, now.Add(30*time.Second))
	}
}

// StartChild begins a Quick Mode for a child unit (core.IKESA).
func (sa *ikeSA) StartChild(now time.Time, ch *core.ChildState, rekeyOf *core.ChildSA) {
	startQM(now, sa, ch, rekeyOf)
}

// SendDeleteChildren tells the peer pairs are gone: one Delete per protocol with our
// inbound SPIs (RFC 2408 §3.15). While a Quick Mode runs under the SA the Deletes wait, up to
// deleteHoldMax, and then go together: each Informational is a new exchange, and strongSwan
// keeps the IVs of only the last three exchanges of an ISAKMP SA (charon's
// max_ikev1_exchanges), so two Deletes during its own Quick Mode made it forget that
// exchange's IV; it could not decrypt our answer, gave up and re-authenticated, and the
// tunnel was down meanwhile (chaos-collisions under IKE loss). A pair that keeps its SAs
// only until its Delete reaches the peer (a rekey collision's redundant pair, which the peer
// may still send on) is announced at once, with whatever waits.
func (sa *ikeSA) SendDeleteChildren(now time.Time, pairs []*core.ChildSA) {
	hold := sa.state == p1Established && len(sa.qms) > 0
	var espSPIs, ahSPIs []uint32
	for _, p := range pairs {
		if p.AwaitsDelete() {
			hold = false
		}
		if p.Unit().Proto == esp.AH {
			ahSPIs = append(ahSPIs, p.InSPI())
		} else {
			espSPIs = append(espSPIs, p.InSPI())
		}
	}
	if !hold {
		sa.flushDeletes(espSPIs, ahSPIs)
		return
	}
	sa.heldESP = append(sa.heldESP, espSPIs...)
	sa.heldAH = append(sa.heldAH, ahSPIs...)
	if !sa.holdTimer.Armed() {
		sa.c.Timers.Arm(sa.holdTimer, now.Add(deleteHoldMax))
	}
	sa.Log.Debug("Delete held back until the Quick Mode in progress ends", zap.Int("quick_modes", len(sa.qms)))
}

// deleteHoldMax bounds how long a Delete waits for the Quick Modes in progress to end.
const deleteHoldMax = 30 * time.Second

// flushDeletes sends the held Deletes and these.
func (sa *ikeSA) flushDeletes(espSPIs, ahSPIs []uint32) {
	espSPIs, ahSPIs = append(sa.heldESP, espSPIs...), append(sa.heldAH, ahSPIs...)
	sa.heldESP, sa.heldAH = nil, nil
	sa.c.Timers.Stop(sa.holdTimer)
	if len(espSPIs) > 0 {
		sa.sendDeleteChild(isakmp.ProtoESP, espSPIs)
	}
	if len(ahSPIs) > 0 {
		sa.sendDeleteChild(isakmp.ProtoAH, ahSPIs)
	}
}

// quickModeEnded sends the held Deletes once no Quick Mode runs any more.
func (sa *ikeSA) quickModeEnded() {
	if len(sa.qms) == 0 && sa.state == p1Established && len(sa.heldESP)+len(sa.heldAH) > 0 {
		sa.flushDeletes(nil, nil)
	}
}

// ownedChildren returns the child SAs this ISAKMP SA manages.
func (sa *ikeSA) ownedChildren() []*core.ChildSA { return sa.Conn.ChildrenOf(sa) }

// rememberProcessed records a message an initiator processed, with the message it sent in
// answer (the retransmitter's current one), so a duplicate is answered, not processed.
func (sa *ikeSA) rememberProcessed(in *inbound) {
	if !sa.Initiator {
		return // responders record their replies in reply
	}
	if _, seen := sa.replies.Lookup(in.Hash); seen {
		return
	}
	sa.replies.Remember(in.Hash, sa.retrans.Msg())
}

// nudgeForAM3 handles a protected Quick Mode or Informational message reaching an
// Aggressive Mode responder that still waits for AM3: the initiator considers Phase 1
// done, so AM3 was lost. A responder does not retransmit AM2 on its own (its peer's
// address is unproven), but this message shows the peer is there: re-send AM2 (at most
// once a second), which the initiator answers with AM3 again from its reply cache.
func (sa *ikeSA) nudgeForAM3(now time.Time, in *inbound) bool {
	if sa.Initiator || sa.state != p1AM2Sent || !in.msg.Header.Flags.Has(isakmp.FlagEncryption) {
		return false
	}
	switch in.msg.Header.ExchangeType {
	case isakmp.ExchangeQuickMode, isakmp.ExchangeInformational:
	default:
		return false
	}
	sa.c.Ctr.Inc(core.CtrUnexpected)
	if sa.lastReply != nil && now.Sub(sa.nudgedAt) >= time.Second {
		sa.nudgedAt = now
		sa.Log.Debug("Quick Mode before AM3: re-sending AM2")
		sa.send(sa.lastReply)
	}
	return true
}

package ike

// Child SAs: a pair of IPsec SAs (inbound + outbound) negotiated by one Quick Mode, their
// keys (RFC 2409 §5.5 KEYMAT), installation into the data plane, lifetimes, rekeying and
// deletion. The inbound SA is installed before the outbound one is switched on, and on a
// rekey the old pair is deleted only after the new outbound is in use.

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

type childSAState int

const (
	childInstalled  childSAState = iota // the child's current pair (or the newest)
	childSuperseded                     // a newer pair replaced it; kept until deleted/expired
	childDead
)

func (s childSAState) String() string {
	return [...]string{"installed", "rekeyed", "deleted"}[s]
}

// childSA is one installed pair of IPsec SAs. Owned by the Run goroutine.
type childSA struct {
	c         *core
	ch        *childState
	ike       *ikeSA // the ISAKMP SA that manages it (changes on re-authentication)
	tr        p2Transform
	proto     isakmp.ProtocolID
	initiator bool
	inSPI     uint32
	outSPI    uint32
	in, out   *esp.SA
	encap     esp.Encap
	peer      netip.AddrPort
	mtu       int
	binding   *esp.Binding
	localTS   []esp.Selector
	remoteTS  []esp.Selector
	installed time.Time
	rekeyAt   time.Time
	expiresAt time.Time
	life      time.Duration
	lifeBytes uint64
	state     childSAState
	replaces  *childSA // a rekey we initiated: the pair to delete once this one is in use
	rekeyDue  bool     // soft expiry passed without a rekey yet

	softTimer, hardTimer, switchTimer, deleteTimer *timer
}

// keyLengths returns the encryption (with salt) and integrity key lengths of a transform.
func keyLengths(t p2Transform) (enc, integ int) {
	if t.enc != nil {
		enc = t.enc.KeyLen()
	}
	if t.integ != nil {
		integ = t.integ.KeyBits / 8
	}
	return
}

// childKeys derives and splits the KEYMAT of the SA with the given SPI: the encryption key
// (and AEAD salt, RFC 4106 §8.1) first, then the integrity key, as strongSwan does.
func (qm *quickMode) childKeys(gqmxy []byte, spi uint32) (enc, integ crypto.Key) {
	sa := qm.sa
	el, il := keyLengths(qm.tr)
	km := keymat(sa.keys.prf, sa.keys.skeyidD, gqmxy, qm.proto, spi, qm.ni, qm.nr, el+il)
	defer km.Wipe()
	return crypto.Key(append([]byte(nil), km[:el]...)), crypto.Key(append([]byte(nil), km[el:]...))
}

// install derives the keys of both SAs, creates them, and installs the inbound one
// (RFC 4301 §4.4.2). The outbound one is switched on by activate.
func (qm *quickMode) install(now time.Time) (*childSA, error) {
	sa, ch := qm.sa, qm.ch
	gqmxy, err := qm.gqmxy()
	if err != nil {
		return nil, err
	}
	defer gqmxy.Wipe()
	// The SAs own these keys (esp.NewSA keeps the slices; SA.Close wipes them).
	encIn, integIn := qm.childKeys(gqmxy, qm.spiIn)
	encOut, integOut := qm.childKeys(gqmxy, qm.spiOut)

	csa := &childSA{c: qm.c, ch: ch, ike: sa, tr: qm.tr, proto: qm.proto, initiator: qm.initiator,
		inSPI: qm.spiIn, outSPI: qm.spiOut, localTS: qm.localTS, remoteTS: qm.remoteTS, installed: now}
	csa.encap, csa.peer = esp.EncapRaw, netip.AddrPortFrom(sa.remote.Addr(), 0)
	if qm.udp {
		csa.encap, csa.peer = esp.EncapUDP, sa.remote
	}
	csa.life = qm.life
	if csa.life == 0 {
		csa.life = defaultP2Lifetime
	}
	csa.lifeBytes = qm.lifeKB * 1024
	if ch.cfg.LifeBytes > 0 {
		csa.lifeBytes = min(nonzero(csa.lifeBytes), ch.cfg.LifeBytes)
	}
	cfg := esp.Config{
		Proto: esp.ESP, Mode: ch.mode(), ESN: qm.tr.esn, Enc: qm.tr.enc, Integ: qm.tr.integ,
		Local: qm.localTS, Remote: qm.remoteTS, LocalAddr: sa.ourIP(), RemoteAddr: sa.remote.Addr(),
		Rand: qm.c.rand,
		Life: esp.Lifetime{
			HardBytes: csa.lifeBytes, SoftBytes: qm.c.softLimit(csa.lifeBytes),
			HardPackets: ch.cfg.LifePackets, SoftPackets: qm.c.softLimit(ch.cfg.LifePackets),
			HardTime: csa.life,
		},
		OnSoftExpire: func(s *esp.SA) { qm.c.signalSoftExpire(s.SPI()) },
	}
	if qm.proto == isakmp.ProtoAH {
		cfg.Proto, cfg.Enc = esp.AH, nil
	}
	out := cfg
	out.SPI, out.Dir, out.EncKey, out.IntegKey = qm.spiOut, esp.Outbound, encOut, integOut
	if csa.out, err = esp.NewSA(out); err != nil {
		crypto.WipeAll(encIn, integIn, encOut, integOut)
		return nil, fmt.Errorf("%w: outbound SA 0x%08x: %v", ErrInstall, qm.spiOut, err)
	}
	if ch.cfg.MTU != nil {
		csa.mtu = ch.cfg.MTU(csa.out, csa.encap)
	}
	in := cfg
	in.SPI, in.Dir, in.EncKey, in.IntegKey = qm.spiIn, esp.Inbound, encIn, integIn
	in.Replay, in.MTU = ch.cfg.ReplayWindow, csa.mtu
	if csa.in, err = esp.NewSA(in); err != nil {
		csa.out.Close()
		crypto.WipeAll(encIn, integIn)
		return nil, fmt.Errorf("%w: inbound SA 0x%08x: %v", ErrInstall, qm.spiIn, err)
	}
	if err := qm.c.dp.AddInbound(csa.in); err != nil {
		csa.in.Close()
		csa.out.Close()
		qm.c.ctr.inc(cInstallFailures)
		return nil, fmt.Errorf("%w: inbound SA 0x%08x: %v", ErrInstall, qm.spiIn, err)
	}
	qm.c.inbound[qm.spiIn] = csa
	ch.sas = append(ch.sas, csa)
	if qm.rekeyOf != nil && qm.rekeyOf.state != childDead {
		csa.replaces = qm.rekeyOf
	}
	csa.softTimer = newTimer("child-soft", csa.softExpired)
	csa.hardTimer = newTimer("child-hard", csa.hardExpired)
	csa.switchTimer = newTimer("child-switch", csa.activate)
	csa.deleteTimer = newTimer("child-delete", func(now time.Time) { csa.remove(now, true, fmt.Errorf("%w: rekeyed", ErrDeleted)) })
	csa.expiresAt = now.Add(csa.life)
	qm.c.timers.arm(csa.hardTimer, csa.expiresAt)
	// We rekey at our rekey_time (or ~90% of a shorter negotiated lifetime), with jitter
	// so both peers do not start at once.
	if ch.cfg.RekeyTime > 0 {
		at := min(ch.cfg.RekeyTime, csa.life*9/10)
		csa.rekeyAt = now.Add(qm.c.jitter(at, 0.05))
		qm.c.timers.arm(csa.softTimer, csa.rekeyAt)
	}
	return csa, nil
}

func nonzero(v uint64) uint64 {
	if v == 0 {
		return ^uint64(0)
	}
	return v
}

// softLimit is ~90% of a hard byte/packet limit with a little jitter (0 stays 0).
func (c *core) softLimit(hard uint64) uint64 {
	if hard == 0 {
		return 0
	}
	return hard/10*9 - hard/100*uint64(c.randBytes(1)[0]%4)
}

// signalSoftExpire is called by the data plane (any goroutine) when an SA crosses a soft
// byte or packet limit.
func (c *core) signalSoftExpire(spi uint32) {
	if c.softExpireHook != nil {
		c.softExpireHook(spi)
	}
}

// logger returns a logger with the child's names and SPIs.
func (csa *childSA) logger() *zap.Logger {
	return csa.c.log.With(zap.String("conn", csa.ch.cs.cfg.Name), zap.String("child", csa.ch.cfg.Name),
		zap.String("spi_in", fmt.Sprintf("%08x", csa.inSPI)), zap.String("spi_out", fmt.Sprintf("%08x", csa.outSPI)))
}

// established logs and counts a completed Quick Mode and resolves Initiate callers.
func (csa *childSA) established(now time.Time) {
	csa.c.ctr.inc(cChildEstablished)
	if csa.replaces != nil {
		csa.c.ctr.inc(cChildRekeys)
	}
	pfs := "none"
	if csa.tr.group != nil {
		pfs = csa.tr.group.Name
	}
	csa.logger().Info("CHILD_SA established", zap.Bool("initiator", csa.initiator), zap.String("proposal", csa.tr.String()),
		zap.String("pfs", pfs), zap.Stringer("encap", csa.encap), zap.Stringer("mode", csa.ch.mode()),
		zap.String("local_ts", selectorsString(csa.localTS)), zap.String("remote_ts", selectorsString(csa.remoteTS)),
		zap.Duration("lifetime", csa.life))
	csa.ch.cs.childUp(csa.ch)
}

// activate switches the child's policy to this pair's outbound SA; older pairs are
// superseded (and a pair this one rekeyed is deleted after a grace period).
func (csa *childSA) activate(now time.Time) {
	if csa.state != childInstalled || csa.binding != nil {
		return
	}
	csa.c.timers.stop(csa.switchTimer)
	b, err := csa.c.dp.NewBinding(csa.out, csa.peer, csa.encap, csa.mtu)
	if err != nil {
		csa.c.ctr.inc(cInstallFailures)
		csa.logger().Warn("cannot bind the outbound SA", zap.Error(err))
		return
	}
	csa.binding = b
	if p := csa.ch.cfg.Policy; p != nil {
		p.SetOutbound(b)
	}
	for _, old := range csa.ch.sas {
		if old != csa && old.state == childInstalled && old.installed.Compare(csa.installed) <= 0 {
			old.supersede(now, csa)
		}
	}
	// A pair one of our rekeys replaced goes after a grace period once a newer pair is in
	// use (the newer one may be the peer's, when both rekeyed at once).
	for _, x := range csa.ch.sas {
		if r := x.replaces; r != nil && r.state == childSuperseded && !r.deleteTimer.armed() {
			csa.c.timers.arm(r.deleteTimer, now.Add(rekeyGrace))
		}
	}
}

// activateLater switches the outbound SA after d (the initiator of a rekey waits until the
// responder has installed the new pair, RFC 2409 §5.5 leaves that race open).
func (csa *childSA) activateLater(now time.Time, d time.Duration) {
	csa.c.timers.arm(csa.switchTimer, now.Add(d))
}

// supersede marks a pair replaced by a newer one: no more rekeying; it stays installed
// for packets in flight until deleted or expired.
func (csa *childSA) supersede(now time.Time, newer *childSA) {
	csa.state = childSuperseded
	csa.c.timers.stop(csa.softTimer)
	csa.c.timers.stop(csa.switchTimer)
}

// isCurrent reports whether the policy sends through this pair.
func (csa *childSA) isCurrent() bool {
	p := csa.ch.cfg.Policy
	return csa.binding != nil && p != nil && p.Binding() == csa.binding
}

// remove deletes the pair: optionally a Delete to the peer (RFC 2408 §3.15, our inbound
// SPI), the outbound switched off or to a newer pair, the inbound SA removed, keys wiped.
func (csa *childSA) remove(now time.Time, sendDelete bool, reason error) {
	if csa.state == childDead {
		return
	}
	if sendDelete && csa.ike != nil && csa.ike.established() {
		csa.ike.sendDeleteChild(csa.proto, []uint32{csa.inSPI})
	}
	wasCurrent := csa.isCurrent()
	csa.state = childDead
	for _, t := range []*timer{csa.softTimer, csa.hardTimer, csa.switchTimer, csa.deleteTimer} {
		csa.c.timers.stop(t)
	}
	for i, x := range csa.ch.sas {
		if x == csa {
			csa.ch.sas = append(csa.ch.sas[:i], csa.ch.sas[i+1:]...)
			break
		}
	}
	if wasCurrent {
		if next := csa.ch.newest(); next != nil {
			if next.binding == nil {
				next.activate(now)
			} else {
				csa.ch.cfg.Policy.SetOutbound(next.binding)
			}
		}
		if csa.isCurrentStill() {
			csa.ch.cfg.Policy.SetOutbound(nil)
		}
	}
	if s := csa.c.dp.RemoveInbound(csa.inSPI); s != nil && s != csa.in {
		s.Close()
	}
	csa.in.Close()
	csa.out.Close()
	delete(csa.c.inbound, csa.inSPI)
	csa.logger().Info("CHILD_SA deleted", zap.Bool("delete_sent", sendDelete), zap.String("reason", errString(reason)))
}

func (csa *childSA) isCurrentStill() bool {
	p := csa.ch.cfg.Policy
	return p != nil && csa.binding != nil && p.Binding() == csa.binding
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// softExpired starts a rekey (a new Quick Mode) of the current pair.
func (csa *childSA) softExpired(now time.Time) {
	if csa.state != childInstalled {
		return
	}
	ch := csa.ch
	if ch.qm != nil {
		return
	}
	csa.rekeyDue = true
	if sa := ch.cs.current(); sa != nil {
		csa.logger().Info("rekeying CHILD_SA")
		ch.startQM(now, sa, csa)
		return
	}
	// No ISAKMP SA left: a new Phase 1 first; ikeEstablished starts the Quick Mode.
	ch.want = true
	if ch.cs.connecting() == nil {
		ch.cs.startPhase1(now, nil)
	}
}

// rekeyFailed retries a failed rekey in 30 s while the pair lives.
func (csa *childSA) rekeyFailed(now time.Time) {
	if at := now.Add(30 * time.Second); at.Before(csa.expiresAt) {
		csa.c.timers.arm(csa.softTimer, at)
	}
}

// hardExpired deletes a pair at the end of its lifetime; a wanted child comes back.
func (csa *childSA) hardExpired(now time.Time) {
	csa.remove(now, true, errExpired)
	ch := csa.ch
	if ch.want && ch.newest() == nil && ch.qm == nil && ch.cs.cfg.RemoteAddr.IsValid() {
		ch.cs.bringUp(now, []*childState{ch})
	}
}

// peerMoved rebinds the outbound SA after the peer's NAT mapping changed.
func (csa *childSA) peerMoved() {
	if csa.encap != esp.EncapUDP || csa.ike == nil || csa.peer == csa.ike.remote {
		return
	}
	csa.peer = csa.ike.remote
	if csa.binding == nil {
		return
	}
	b, err := csa.c.dp.NewBinding(csa.out, csa.peer, csa.encap, csa.mtu)
	if err != nil {
		return
	}
	wasCurrent := csa.isCurrent()
	csa.binding = b
	if wasCurrent {
		csa.ch.cfg.Policy.SetOutbound(b)
	}
}

package core

// Child SAs: the negotiable units of a configured child (ChildState) and the pairs of IPsec
// SAs installed for them (ChildSA), handed to the data plane through the esp seam: Install
// for both SAs (the inbound one is live at once), Bind to switch outbound traffic, Retire to
// take an SA out of service (the data plane wipes its keys once no batch in flight can use
// it). On a rekey the old pair is deleted only after the new outbound SA is in use.

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
)

// Negotiation is an exchange in flight for a child (an IKEv1 Quick Mode, an IKEv2
// CREATE_CHILD_SA); the core aborts it when the child is terminated.
type Negotiation interface {
	Abort(now time.Time, err error)
}

// movable is a negotiation bound to the IKE SA it runs on (an IKEv1 Quick Mode) that can be
// withdrawn without counting as a failure, to start again on another SA when that one goes
// (Conn.movePending).
type movable interface {
	OnIKE() IKESA
	Withdraw(now time.Time, why string)
}

// ChildState is one negotiable unit of a configured child: for IKEv2 the whole child (all
// its selectors in one SA pair), for IKEv1 one pair of a local and a remote selector (a
// Quick Mode carries one pair; the core splits children for protocols that say so). It has
// its own SPD entry. Owned by the core's goroutine.
type ChildState struct {
	Conn              *Conn
	Cfg               *Child
	Pair              int // 0: the child is one unit; 1, 2, ...: IKEv1 selector pairs
	LocalTS, RemoteTS []esp.Selector
	Policy            *esp.Policy
	Proto             esp.Protocol
	Props             []*crypto.Proposal
	SAs               []*ChildSA  // installed pairs, oldest first
	Pending           Negotiation // the exchange we initiated for it, in flight
	Want              bool        // should be up
	Hold              bool        // dpd_action = hold: an acquire brings it back
	LastError         error       // why the last attempt failed (status)
	LastErrorAt       time.Time

	delay *Timer // responder side: wait for the peer's own child negotiation first; retries
	// retryDelay is the backoff of retryAfterTimeout (0: the last negotiation succeeded).
	retryDelay time.Duration
}

// Name is the unit's name: the child's, with ".N" for IKEv1 selector pair N.
func (ch *ChildState) Name() string {
	if ch.Pair == 0 {
		return ch.Cfg.Name
	}
	return fmt.Sprintf("%s.%d", ch.Cfg.Name, ch.Pair)
}

// Newest returns the unit's newest installed pair that is not superseded.
func (ch *ChildState) Newest() *ChildSA {
	for i := len(ch.SAs) - 1; i >= 0; i-- {
		if ch.SAs[i].state == childInstalled {
			return ch.SAs[i]
		}
	}
	return nil
}

// Mode is the unit's ESP mode.
func (ch *ChildState) Mode() esp.Mode { return ch.Cfg.ModeOf() }

// Failed records why a negotiation failed (status shows it) and tells Initiate callers.
func (ch *ChildState) Failed(now time.Time, err error) {
	ch.LastError, ch.LastErrorAt = err, now
	ch.Conn.childFailed(ch, err)
	ch.retryAfterTimeout(now, err)
}

// retryAfterTimeout negotiates a wanted unit of a persistent connection again when the peer
// left its first negotiation unanswered, with the connection's backoff and jitter (about 2,
// 4, 8 s ... at most a minute apart; Conn.scheduleRetry). The IKE SA stays up then (an IKEv1
// Quick Mode; IKEv2 deletes the IKE SA, and the connection's own retry brings both back),
// and nothing else would bring the unit up: strongSwan deletes the ISAKMP SA instead, and
// its keyingtries start again. A refusal is not retried, nor a failed rekey (RekeyFailed).
func (ch *ChildState) retryAfterTimeout(now time.Time, err error) {
	cs := ch.Conn
	if !errors.Is(err, ErrTimeout) || !cs.persistent || !ch.Want || ch.Newest() != nil || ch.Pending != nil || !cs.Cfg.CanInitiate() {
		return
	}
	ch.retryDelay = min(max(2*ch.retryDelay, 2*time.Second), time.Minute)
	d := ch.retryDelay + ch.retryDelay/5 - cs.c.Jitter(ch.retryDelay*2/5, 1)
	cs.c.Timers.Arm(ch.delay, now.Add(d))
	cs.Log().Info("negotiating the child again after a timeout", zap.String("child", ch.Name()), zap.Duration("in", d.Round(time.Millisecond)))
}

// delayed starts a child the responder side waited for, if the peer has not.
func (ch *ChildState) delayed(now time.Time) {
	if !ch.Want || ch.Newest() != nil || ch.Pending != nil {
		return
	}
	if sa := ch.Conn.Current(); sa != nil {
		sa.StartChild(now, ch, nil)
	}
}

type childSAState int

const (
	childInstalled  childSAState = iota // the unit's current pair (or the newest)
	childSuperseded                     // a newer pair replaced it; kept until deleted/expired
	childDead
)

func (s childSAState) String() string {
	return [...]string{"installed", "rekeyed", "deleted"}[s]
}

// ChildParams is what a protocol negotiated for a pair: everything the data plane needs
// and what status shows. The core takes ownership of the four keys.
type ChildParams struct {
	IKE       IKESA
	Initiator bool
	Mode      esp.Mode
	InSPI     uint32
	OutSPI    uint32
	Enc       *crypto.Algorithm // nil for AH
	Integ     *crypto.Algorithm // nil for an AEAD
	ESN       bool
	PFS       *crypto.Algorithm // the PFS group, or nil
	// EncIn/IntegIn protect what the peer sends (our inbound SA), EncOut/IntegOut what we send.
	EncIn, IntegIn, EncOut, IntegOut crypto.Key
	LocalTS, RemoteTS                []esp.Selector
	Encap                            esp.Encap
	Peer                             netip.AddrPort // ESP-in-UDP: the peer's NAT-T address; raw: port 0
	Local                            netip.Addr     // our address towards the peer
	Life                             time.Duration  // negotiated lifetime (0 = the default)
	LifeBytes                        uint64         // negotiated byte limit (0 = none)
	RekeyOf                          *ChildSA       // a rekey: the pair this one replaces
	Transform                        string         // for logs and status
	Detail                           string         // protocol-specific detail for logs (IKEv1: the encapsulation mode)
	CollisionKey                     []byte         // IKEv1: decides a rekey collision (resolveCollision)
}

// ChildSA is one installed pair of IPsec SAs. Owned by the core's goroutine.
type ChildSA struct {
	c         *Core
	ch        *ChildState
	ike       IKESA // the IKE SA that manages it (changes on re-authentication)
	p         ChildParams
	in, out   *esp.SA
	mtu       int
	bound     bool // the policy sends through out
	installed time.Time
	rekeyAt   time.Time
	expiresAt time.Time
	life      time.Duration
	lifeBytes uint64
	state     childSAState
	replaces  *ChildSA    // a rekey we initiated (IKEv1: or the peer's, colliding with ours): the pair to delete once this one is in use
	raPolicy  *esp.Policy // remote access: the client's own SPD entry (ra.go)
	rekeyDue  bool        // soft expiry passed without a rekey yet
	complete  bool        // its negotiation completed (Established was called)
	lostTo    *ChildSA    // a rekey collision made it redundant: the pair kept instead
	announced bool        // its Delete was sent; the inbound SA lingers (deleteRekeyed)
	// While it lingers: its inbound packets when the Delete last went, and how often the
	// Delete went again because the peer still sent on the pair.
	lingerMark    uint64
	lingerResends int
	// holdUntil: a collision's redundant pair is deleted no earlier than this while the
	// pair kept instead waits for the peer (resolveCollision).
	holdUntil time.Time
	// A pending outbound switch (ActivateLater): how often it looks again, until when it may
	// wait for the peer, the inbound packets of the pair in use when it last looked, and
	// whether it has waited (logged and counted once).
	switchEvery time.Duration
	switchBy    time.Time
	oldIn       uint64
	switchHeld  bool
	// resendFinal sends the exchange's last message again (IKEv1: Quick Mode message 3),
	// while the switch waits for a peer that may not have it; resent counts the times.
	resendFinal func()
	resent      int
	// confirm completes the negotiation when the peer's first packet arrives on the pair
	// before the exchange's last message (IKEv1: a Quick Mode responder's pair; firstUse).
	confirm func(now time.Time)
	// kept: the negotiation ended without the peer confirming the pair (KeepUnconfirmed),
	// which stays for the peer's first packet.
	kept bool

	softTimer, hardTimer, switchTimer, deleteTimer *Timer
}

// Unit returns the ChildState the pair belongs to.
func (csa *ChildSA) Unit() *ChildState { return csa.ch }

// IKE returns the IKE SA that manages the pair.
func (csa *ChildSA) IKE() IKESA { return csa.ike }

// SetIKE moves the pair to another IKE SA (re-authentication, IKE SA rekey).
func (csa *ChildSA) SetIKE(sa IKESA) { csa.ike = sa }

// InSPI and OutSPI are the pair's SPIs; Params what was negotiated.
func (csa *ChildSA) InSPI() uint32          { return csa.p.InSPI }
func (csa *ChildSA) OutSPI() uint32         { return csa.p.OutSPI }
func (csa *ChildSA) Params() *ChildParams   { return &csa.p }
func (csa *ChildSA) Alive() bool            { return csa.state != childDead }
func (csa *ChildSA) Current() bool          { return csa.state == childInstalled }
func (csa *ChildSA) InboundPackets() uint64 { return csa.in.Stats.Packets.Load() }

// AwaitsDelete reports whether the pair keeps its SAs only until its Delete reaches the peer
// (a rekey collision's redundant pair, deleteRekeyed): that Delete must not wait.
func (csa *ChildSA) AwaitsDelete() bool { return csa.announced }

// MarkAwaitingDelete makes the pair one whose SAs stay until its Delete reaches the peer
// (tests of the protocols' Delete handling).
func (csa *ChildSA) MarkAwaitingDelete() { csa.announced = true }

// Install creates both SAs of a negotiated pair in the data plane: the inbound one takes
// traffic at once, the outbound one once Activate binds it to the unit's policy.
func (ch *ChildState) Install(now time.Time, p ChildParams) (*ChildSA, error) {
	c := ch.Conn.c
	csa := &ChildSA{c: c, ch: ch, ike: p.IKE, p: p, installed: now}
	csa.p.EncIn, csa.p.IntegIn, csa.p.EncOut, csa.p.IntegOut = nil, nil, nil, nil
	csa.life = p.Life
	if csa.life == 0 {
		csa.life = DefaultLifetime
	}
	csa.lifeBytes = p.LifeBytes
	if ch.Cfg.LifeBytes > 0 {
		csa.lifeBytes = min(nonzero(csa.lifeBytes), ch.Cfg.LifeBytes)
	}
	remote := p.Peer.Addr()
	cfg := esp.Config{
		Proto: ch.Proto, Mode: p.Mode, ESN: p.ESN, Enc: p.Enc, Integ: p.Integ,
		Local: p.LocalTS, Remote: p.RemoteTS, LocalAddr: p.Local, RemoteAddr: remote,
		Rand: c.Rand,
		Life: esp.Lifetime{
			HardBytes: csa.lifeBytes, SoftBytes: c.softLimit(csa.lifeBytes),
			HardPackets: ch.Cfg.LifePackets, SoftPackets: c.softLimit(ch.Cfg.LifePackets),
			HardTime: csa.life,
		},
	}
	if ch.Proto == esp.AH {
		cfg.Enc = nil
	}
	if kl := c.Cfg.KeyLog; kl != nil {
		enc := p.Enc
		if ch.Proto == esp.AH {
			enc = nil
		}
		kl.ESP(p.Local, remote, p.OutSPI, enc, p.EncOut, p.Integ, p.IntegOut)
		kl.ESP(remote, p.Local, p.InSPI, enc, p.EncIn, p.Integ, p.IntegIn)
	}
	wipe := func() { crypto.WipeAll(p.EncIn, p.IntegIn, p.EncOut, p.IntegOut) }
	out := cfg
	out.SPI, out.Dir, out.EncKey, out.IntegKey = p.OutSPI, esp.Outbound, p.EncOut, p.IntegOut
	var err error
	if csa.out, err = c.DP.Install(out); err != nil {
		wipe()
		c.Ctr.Inc(CtrInstallFailures)
		return nil, fmt.Errorf("%w: outbound SA 0x%08x: %v", ErrInstall, p.OutSPI, err)
	}
	csa.mtu = csa.out.TunnelMTU(c.pathMTU(remote), p.Encap, remote)
	in := cfg
	in.SPI, in.Dir, in.EncKey, in.IntegKey = p.InSPI, esp.Inbound, p.EncIn, p.IntegIn
	in.Replay, in.MTU = ch.Cfg.ReplayWindow, csa.mtu
	if csa.in, err = c.DP.Install(in); err != nil {
		c.DP.Retire(csa.out)
		crypto.WipeAll(p.EncIn, p.IntegIn)
		c.Ctr.Inc(CtrInstallFailures)
		return nil, fmt.Errorf("%w: inbound SA 0x%08x: %v", ErrInstall, p.InSPI, err)
	}
	if p.Encap == esp.EncapUDP {
		csa.in.WatchSource(p.Peer)
	}
	c.inbound[p.InSPI] = csa
	c.bySA[csa.in], c.bySA[csa.out] = csa, csa
	ch.SAs = append(ch.SAs, csa)
	csa.attachPolicy()
	ch.LastError = nil
	if r := p.RekeyOf; r != nil && (r.state != childDead || p.CollisionKey != nil) {
		// IKEv1 keeps the replaced pair even once it is gone: it names the rekeys that
		// collided (resolveCollision), and the peer may have deleted it meanwhile.
		csa.replaces = r
	}
	csa.softTimer = NewTimer("child-soft", csa.softExpired)
	csa.hardTimer = NewTimer("child-hard", func(now time.Time) { csa.hardExpired(now, "lifetime") })
	csa.switchTimer = NewTimer("child-switch", csa.switchDue)
	csa.deleteTimer = NewTimer("child-delete", csa.deleteRekeyed)
	csa.expiresAt = now.Add(csa.life)
	c.Timers.Arm(csa.hardTimer, csa.expiresAt)
	// We rekey at our rekey_time (or ~90% of a shorter negotiated lifetime), with jitter
	// so both peers do not start at once.
	if ch.Cfg.RekeyTime > 0 {
		at := min(ch.Cfg.RekeyTime, csa.life*9/10)
		csa.rekeyAt = now.Add(c.Jitter(at, 0.05))
		c.Timers.Arm(csa.softTimer, csa.rekeyAt)
	}
	csa.evictExtraPairs(now)
	if d := csa.duplicatePair(); d != nil {
		// IKEv2: the pair came with an IKE SA uniqueids is deleting, and the SA it keeps
		// has its own pair for the unit: this one is redundant (the peer decides alike).
		csa.ike = d
		csa.supersede()
		c.Timers.Arm(csa.deleteTimer, now.Add(RekeyGrace))
	}
	return csa, nil
}

// evictExtraPairs bounds the pairs a unit holds: a peer may negotiate any number of
// children for the same selectors, and each installs an inbound SA. Beyond MaxPairsPerChild
// the oldest superseded pairs are deleted, else the oldest that carry no outbound traffic
// (negotiations the peer has not finished); never the pair the policy sends on, which would
// cut the working tunnel for unfinished exchanges.
func (csa *ChildSA) evictExtraPairs(now time.Time) {
	ch := csa.ch
	for ch.pairsLike(csa) > MaxPairsPerChild {
		var victim *ChildSA
		for _, x := range ch.SAs {
			if x.state == childSuperseded && x != csa && csa.sameClient(x) {
				victim = x
				break
			}
		}
		for _, x := range ch.SAs {
			if victim == nil && !x.bound && x != csa && csa.sameClient(x) {
				victim = x
			}
		}
		if victim == nil {
			return
		}
		csa.c.Ctr.Inc(CtrPairsEvicted)
		victim.Remove(now, true, fmt.Errorf("%w: more than %d SA pairs for one child", ErrDeleted, MaxPairsPerChild))
	}
}

// duplicatePair returns the IKE SA kept instead of csa's when csa is an IKEv2 pair made by
// an IKE SA that uniqueids is deleting while the kept one has an installed pair of the unit.
func (csa *ChildSA) duplicatePair() IKESA {
	if csa.ike == nil || csa.ch.Conn.Cfg.Version != 2 {
		return nil
	}
	d := csa.ike.Base().duplicateOf
	if d == nil {
		return nil
	}
	for _, x := range csa.ch.SAs {
		if x != csa && x.ike == d && x.state == childInstalled {
			return d
		}
	}
	return nil
}

func nonzero(v uint64) uint64 {
	if v == 0 {
		return ^uint64(0)
	}
	return v
}

// softLimit is ~90% of a hard byte/packet limit with a little jitter (0 stays 0).
func (c *Core) softLimit(hard uint64) uint64 {
	if hard == 0 {
		return 0
	}
	return hard/10*9 - hard/100*uint64(c.RandBytes(1)[0]%4)
}

// Logger returns a logger with the pair's names and SPIs.
func (csa *ChildSA) Logger() *zap.Logger {
	return csa.c.Log.With(zap.String("conn", csa.ch.Conn.Cfg.Name), zap.String("child", csa.ch.Name()),
		zap.String("spi_in", fmt.Sprintf("%08x", csa.p.InSPI)), zap.String("spi_out", fmt.Sprintf("%08x", csa.p.OutSPI)))
}

// Established logs and counts a completed negotiation and resolves Initiate callers.
func (csa *ChildSA) Established(now time.Time) {
	csa.complete = true
	csa.ch.retryDelay = 0
	csa.c.Ctr.Inc(CtrChildEstablished)
	if csa.replaces != nil {
		csa.c.Ctr.Inc(CtrChildRekeys)
	}
	pfs := "none"
	if csa.p.PFS != nil {
		pfs = csa.p.PFS.Name
	}
	csa.Logger().Info("CHILD_SA established", zap.Bool("initiator", csa.p.Initiator), zap.String("proposal", csa.p.Transform),
		zap.String("pfs", pfs), zap.Stringer("encap", csa.p.Encap), zap.Stringer("mode", csa.p.Mode),
		zap.String("local_ts", SelectorsString(csa.p.LocalTS)), zap.String("remote_ts", SelectorsString(csa.p.RemoteTS)),
		zap.Duration("lifetime", csa.life), zap.Uint64("life_bytes", csa.lifeBytes))
	csa.ch.Conn.childUp(csa.ch)
	for _, x := range slices.Clone(csa.ch.SAs) {
		if x.kept && x != csa && x.installed.Before(csa.installed) && csa.sameClient(x) {
			x.dropUnconfirmed(now, "a newer pair is established")
		}
	}
	csa.resolveCollision(now)
}

// resolveCollision (IKEv1) handles a rekey collision: both ends started a Quick Mode to
// replace the same pair, so two new pairs exist. Once both are established, the one with
// the lower CollisionKey is redundant: traffic moves to the other, and the redundant one is
// deleted, with a Delete, after RekeyGrace (packets in flight on it still arrive). Both
// ends choose the same pair and both delete it; a Delete for a pair already gone is
// ignored, and a peer that never resolves collisions (strongSwan keeps both) follows ours.
func (csa *ChildSA) resolveCollision(now time.Time) {
	if csa.replaces == nil || csa.p.CollisionKey == nil || csa.state == childDead {
		return
	}
	for _, x := range csa.ch.SAs {
		if x == csa || x.state == childDead || !x.complete || x.replaces != csa.replaces || x.p.CollisionKey == nil ||
			x.lostTo != nil || !csa.sameClient(x) {
			continue
		}
		keep, drop := csa, x
		if bytes.Compare(csa.p.CollisionKey, x.p.CollisionKey) < 0 {
			keep, drop = x, csa
		}
		c := csa.c
		c.Ctr.Inc(CtrRekeyCollisions)
		drop.Logger().Info("rekey collision: both ends rekeyed the same CHILD_SA; this pair is redundant",
			zap.String("kept_spi_in", fmt.Sprintf("%08x", keep.p.InSPI)), zap.String("kept_spi_out", fmt.Sprintf("%08x", keep.p.OutSPI)))
		wasBound := drop.bound
		drop.supersede()
		drop.lostTo = keep
		keep.reinstate(now)
		if wasBound || !csa.ch.anyBoundLike(keep) {
			keep.bound = false
			if wasBound && keep.unconfirmed() {
				// Our kept pair's last Quick Mode message may be lost (the peer installs the
				// pair only when it arrives): go on sending on the redundant pair, which the
				// peer has, and switch as a rekey's initiator does (switchDue: held while the
				// peer sends on the other pair and not on ours, message 3 sent again). Made
				// the active pair at once, it left the peer without any pair when message 3
				// was lost (chaos-collisions against strongSwan, 20% IKE loss).
				drop.holdUntil = now.Add(RekeyGrace + collisionConfirmWait)
				keep.ActivateLater(now, keep.switchEvery)
			} else {
				keep.Activate(now)
			}
		}
		c.Timers.Arm(drop.deleteTimer, now.Add(RekeyGrace))
		return
	}
}

// deleteRekeyed deletes a pair a rekey replaced, after RekeyGrace. The redundant pair of a
// rekey collision may still carry the peer's traffic (strongSwan sends on the pair it
// installed last, whichever that is) until our Delete reaches it: its Delete goes first and
// its SAs DeleteLinger later, so no packet the peer sent before it is lost.
//
// An IKEv1 Delete is not acknowledged, and a peer that never got it keeps sending on the
// pair it installed last, which may be this one (chaos-collisions against strongSwan under
// 20% IKE loss: 200 echoes lost to our "unknown SPI" after the Delete was lost). So if the
// peer still sent on the pair while it lingered, the Delete goes again and the pair lingers
// on, up to maxLingerResends times.
func (csa *ChildSA) deleteRekeyed(now time.Time) {
	reason := fmt.Errorf("%w: rekeyed", ErrDeleted)
	canSend := csa.ike != nil && csa.ike.Base().Established()
	if k := csa.lostTo; k != nil && !csa.announced && csa.bound && k.state == childInstalled && k.unconfirmed() && k.switchTimer.Armed() && now.Before(csa.holdUntil) {
		// The pair kept instead still waits for the peer (resolveCollision): this one
		// carries the traffic a little longer, while message 3 goes again. Not until the
		// peer uses the kept pair: a peer that has both sends on the one it installed last,
		// which may be this one, until our Delete of it arrives.
		csa.c.Timers.Arm(csa.deleteTimer, now.Add(time.Second))
		return
	}
	if csa.lostTo != nil && !csa.announced && canSend {
		csa.announced = true
		csa.lingerMark = csa.in.Stats.Packets.Load()
		csa.ike.SendDeleteChildren(now, []*ChildSA{csa})
		csa.Logger().Info("rekey collision: Delete sent for the redundant pair; its SAs go shortly")
		csa.c.Timers.Arm(csa.deleteTimer, now.Add(DeleteLinger))
		return
	}
	if n := csa.in.Stats.Packets.Load(); csa.lostTo != nil && csa.announced && canSend && n > csa.lingerMark && csa.lingerResends < maxLingerResends {
		csa.lingerResends++
		csa.lingerMark = n
		csa.c.Ctr.Inc(CtrDeletesResent)
		csa.ike.SendDeleteChildren(now, []*ChildSA{csa})
		csa.Logger().Info("rekey collision: the peer still sends on the redundant pair; Delete sent again", zap.Int("resend", csa.lingerResends))
		csa.c.Timers.Arm(csa.deleteTimer, now.Add(DeleteLinger))
		return
	}
	csa.Remove(now, !csa.announced, reason)
}

// maxLingerResends bounds how often a redundant pair's Delete goes again (deleteRekeyed), and
// collisionConfirmWait how much longer than RekeyGrace a redundant pair stays while the pair
// kept instead waits for the peer (three more copies of its message 3).
const (
	maxLingerResends     = 4
	collisionConfirmWait = 3 * time.Second
)

// CrossedRekey returns the pair our own completed rekey replaced, when that is the pair the
// peer's Quick Mode replaces (outSPI: its outbound SPI, which the peer named in an
// OAKLEY-REKEY-SA notification) and our new pair has not lost a collision already. The
// peer then sent its Quick Mode before ours reached it, and ours completed first: both
// rekeys replace the same pair, a collision the peer sees as one too (IKEv1; the pair
// may be gone already). Nil otherwise: the peer rekeys a pair it has, maybe our new one.
func (ch *ChildState) CrossedRekey(outSPI uint32) *ChildSA {
	for _, y := range ch.SAs {
		if r := y.replaces; r != nil && r.p.OutSPI == outSPI && y.p.Initiator && y.complete && y.lostTo == nil {
			return r
		}
	}
	return nil
}

// reinstate makes a superseded pair the unit's current one again (it rekeys at its time).
func (csa *ChildSA) reinstate(now time.Time) {
	if csa.state != childSuperseded {
		return
	}
	csa.state = childInstalled
	csa.c.Timers.Stop(csa.deleteTimer)
	if csa.rekeyAt.After(now) {
		csa.c.Timers.Arm(csa.softTimer, csa.rekeyAt)
	} else if csa.ch.Cfg.RekeyTime > 0 {
		csa.c.Timers.Arm(csa.softTimer, now)
	}
}

// Activate switches the unit's policy to this pair's outbound SA; older pairs are
// superseded (and a pair this one rekeyed is deleted after a grace period).
func (csa *ChildSA) Activate(now time.Time) {
	if csa.state != childInstalled || csa.bound {
		return
	}
	c := csa.c
	c.Timers.Stop(csa.switchTimer)
	if err := c.DP.Bind(csa.policy(), csa.out, csa.p.Peer, csa.p.Local, csa.p.Encap, csa.mtu); err != nil {
		c.Ctr.Inc(CtrInstallFailures)
		csa.Logger().Warn("cannot bind the outbound SA", zap.Error(err))
		return
	}
	csa.bound = true
	csa.resendFinal = nil
	for _, old := range csa.ch.SAs {
		if !csa.sameClient(old) {
			continue
		}
		if old != csa {
			old.bound = false
		}
		// A pair whose negotiation still runs (an IKEv1 responder's, waiting for Quick Mode
		// message 3) is not an older pair in use: the peer may keep it (a rekey collision
		// is decided once both pairs are complete). Superseding it had it deleted as a pair
		// the peer replaced, while the peer kept it and sent on it.
		if old != csa && old.state == childInstalled && old.complete && !old.installed.After(csa.installed) {
			old.supersede()
		}
	}
	// A pair one of our rekeys replaced goes after a grace period once a newer pair is in
	// use (the newer one may be the peer's, when both rekeyed at once).
	for _, x := range csa.ch.SAs {
		if r := x.replaces; r != nil && r.state == childSuperseded && !r.deleteTimer.Armed() {
			c.Timers.Arm(r.deleteTimer, now.Add(RekeyGrace))
		}
	}
	if csa.ch.Conn.Cfg.Version == 1 {
		// IKEv1: a pair the peer's rekey replaced is the peer's to delete, but strongSwan
		// never does (charon.delete_rekeyed = no) and would leave it with us until it
		// expires: we delete it ourselves a little after the peer would have.
		for _, x := range csa.ch.SAs {
			if x != csa && x.state == childSuperseded && x.lostTo == nil && !x.deleteTimer.Armed() && csa.sameClient(x) {
				c.Timers.Arm(x.deleteTimer, now.Add(2*RekeyGrace))
			}
		}
	}
}

// ActivateLater switches the outbound SA after d, or as soon as the peer is seen using the
// new pair (its first packet on our new inbound SA) or the old outbound SA reaches a hard
// limit, whichever comes first. The initiator of an IKEv1 rekey waits like this because the
// responder installs the new pair only when the last Quick Mode message arrives (RFC 2409
// §5.5 leaves that race open). If the peer still sends on the pair in use after d, and not
// on this one, the switch waits on (switchDue).
func (csa *ChildSA) ActivateLater(now time.Time, d time.Duration) {
	// Nothing to wait for when no pair sends any more (the old one reached its hard limit
	// before the rekey completed): waiting would only prolong the outage.
	if csa.in.Stats.Packets.Load() > 0 || csa.oldOutboundDead() || !csa.ch.anyBoundLike(csa) {
		csa.Activate(now)
		return
	}
	csa.switchEvery = d
	csa.switchBy = now.Add(max(d, csa.c.Cfg.Retransmit.Total()))
	csa.oldIn, _ = csa.inboundInUse()
	csa.c.Timers.Arm(csa.switchTimer, now.Add(d))
}

// switchDue: the delay of ActivateLater passed without the peer sending on the new pair. If
// it still sends on the pair in use, it has most likely not installed the new one: the last
// message of the exchange was lost (an IKEv1 Quick Mode responder installs the pair when
// message 3 arrives and retransmits message 2 until then; an IKEv2 initiator whose
// CREATE_CHILD_SA response was lost retransmits its request). Switching now would send
// every packet to an SPI the peer does not have, and the old pair would be deleted under
// the peer's only outbound SA. So the switch waits, looking again every delay, until the
// peer uses the new pair, stops sending on the old one, or could have given up
// retransmitting (the retransmission schedule's whole length).
//
// Once it waits, only the peer's first packet on the new pair (or the limits above) ends the
// wait: the peer falling silent on the old pair says nothing about whether it has the new
// one. Meanwhile the exchange's last message goes again on every look, at most
// maxFinalResends times (a strongSwan Quick Mode responder does not always retransmit its
// message 2, and the peer ignores a message 3 it already has).
func (csa *ChildSA) switchDue(now time.Time) {
	if csa.state != childInstalled || csa.bound {
		return
	}
	n, ok := csa.inboundInUse()
	// Once the last message went maxFinalResends times more, the peer has it but for a link
	// that loses everything: a peer that keeps sending on the old pair then waits for our
	// switch or our Delete (charon did, 164 s of a held switch in a chaos-collisions round).
	resentAll := csa.resendFinal != nil && csa.resent >= maxFinalResends
	if ok && (n != csa.oldIn || csa.switchHeld) && csa.in.Stats.Packets.Load() == 0 && now.Before(csa.switchBy) && !csa.oldOutboundDead() && !resentAll {
		if !csa.switchHeld {
			csa.switchHeld = true
			csa.c.Ctr.Inc(CtrSwitchesHeld)
			csa.Logger().Info("keeping the old outbound SA: the peer still sends on the old pair and not on this one (the exchange's last message lost?)",
				zap.Duration("at_most", csa.switchBy.Sub(now).Round(time.Second)))
		}
		if csa.resendFinal != nil && csa.resent < maxFinalResends {
			csa.resent++
			csa.resendFinal()
		}
		csa.oldIn = n
		csa.c.Timers.Arm(csa.switchTimer, now.Add(csa.switchEvery))
		return
	}
	if resentAll && csa.switchHeld {
		csa.Logger().Info("switching to the new outbound SA: the exchange's last message went again often enough for the peer to have it",
			zap.Int("resent", csa.resent))
	}
	csa.Activate(now)
}

// unconfirmed reports whether the pair is one we initiated whose last message may not have
// reached the peer: it can still send that message again, and nothing arrived on it yet.
func (csa *ChildSA) unconfirmed() bool {
	return csa.p.Initiator && csa.resendFinal != nil && csa.switchEvery > 0 && csa.in.Stats.Packets.Load() == 0
}

// maxFinalResends bounds how often a held switch sends the exchange's last message again.
const maxFinalResends = 8

// SetConfirm gives the pair a way to complete its negotiation when the peer's first packet
// on it arrives first (nil: no more).
func (csa *ChildSA) SetConfirm(f func(now time.Time)) { csa.confirm = f }

// KeepUnconfirmed keeps a pair whose negotiation ended before the peer confirmed it (an
// IKEv1 Quick Mode responder's, whose message 2 went unanswered): the peer may have
// installed it and send on it, now or after a long silence, and its first packet on the
// pair calls confirmed. The pair goes, without a Delete, once a newer pair of the unit is
// established (the peer negotiated again: it never had this one, or replaced it) or at its
// soft lifetime, when a peer that has it rekeys it too. A Delete would take the pair from
// a peer that has it and is only silent, and nothing would bring the unit back there
// (a peer's Delete does not make an end negotiate again).
//
// When no other pair carries the unit's traffic to this peer, the kept pair takes it at
// once: a peer that has the pair receives it, and one that never had it drops what would
// otherwise be refused here for want of an SA, until it negotiates again. With an older
// pair still in use, that one keeps the traffic until the peer's first packet on the new
// pair (RFC 2409 §5.5: the responder starts on a new pair once it knows the initiator has
// it).
func (csa *ChildSA) KeepUnconfirmed(now time.Time, confirmed func(now time.Time)) {
	csa.kept = true
	csa.confirm = func(now time.Time) {
		csa.kept = false
		confirmed(now)
	}
	if !csa.ch.anyBoundLike(csa) {
		csa.Activate(now)
	}
}

// dropUnconfirmed removes a kept pair the peer never sent on (KeepUnconfirmed).
func (csa *ChildSA) dropUnconfirmed(now time.Time, why string) {
	csa.Logger().Info("removing a pair the peer never sent on: its negotiation ended unconfirmed", zap.String("why", why))
	csa.Remove(now, false, errUnconfirmed)
}

// SetResendFinal gives the pair a way to send its exchange's last message again while a
// held switch waits for the peer (switchDue).
func (csa *ChildSA) SetResendFinal(f func()) { csa.resendFinal = f }

// inboundInUse returns the inbound packets of the pair whose outbound SA carries this one's
// traffic now, and whether there is one.
func (csa *ChildSA) inboundInUse() (uint64, bool) {
	for _, x := range csa.ch.SAs {
		if x != csa && x.bound && x.state != childDead && csa.sameClient(x) {
			return x.in.Stats.Packets.Load(), true
		}
	}
	return 0, false
}

// oldOutboundDead reports whether the pair this one replaces can no longer send.
func (csa *ChildSA) oldOutboundDead() bool {
	for _, x := range csa.ch.SAs {
		if x != csa && x.bound && x.out.Expired() && csa.sameClient(x) {
			return true
		}
	}
	return false
}

// SwitchPending reports whether the pair waits to be activated.
func (csa *ChildSA) SwitchPending() bool { return csa.switchTimer.Armed() }

// Supersede marks a pair the unit does not use and does not rekey: IKEv2, the peer's
// redundant pair of a rekey collision we won, which the peer deletes.
func (csa *ChildSA) Supersede() {
	if csa.state == childInstalled {
		csa.supersede()
	}
}

// supersede marks a pair replaced by a newer one: no more rekeying; it stays installed for
// packets in flight until deleted or expired.
func (csa *ChildSA) supersede() {
	csa.state = childSuperseded
	csa.c.Timers.Stop(csa.softTimer)
	csa.c.Timers.Stop(csa.switchTimer)
}

// Remove deletes the pair: optionally a Delete to the peer (our inbound SPI), the outbound
// switched off or to a newer pair, both SAs retired (their keys are wiped by the data plane
// once no batch in flight can use them).
func (csa *ChildSA) Remove(now time.Time, sendDelete bool, reason error) {
	if csa.state == childDead {
		return
	}
	c, ch := csa.c, csa.ch
	if sendDelete && csa.ike != nil && csa.ike.Base().Established() {
		csa.ike.SendDeleteChildren(now, []*ChildSA{csa})
	}
	wasCurrent := csa.bound
	csa.state = childDead
	csa.replaces = nil // a pair names only the pair it replaced, not that one's whole history
	csa.bound = false
	csa.resendFinal, csa.confirm = nil, nil
	// The peer deleted the pair a rekey collision kept (it chose the other one, or resolved
	// the collision first): the redundant pair is the unit's again instead of being deleted.
	var sibling *ChildSA
	for _, x := range ch.SAs {
		if x.lostTo == csa && x.state == childSuperseded && !x.announced {
			x.lostTo = nil
			x.reinstate(now)
			x.Logger().Info("rekey collision: the peer deleted the pair we kept; keeping this one")
			sibling = x
		}
	}
	for _, t := range []*Timer{csa.softTimer, csa.hardTimer, csa.switchTimer, csa.deleteTimer} {
		c.Timers.Stop(t)
	}
	for i, x := range ch.SAs {
		if x == csa {
			ch.SAs = slices.Delete(ch.SAs, i, i+1) // zeroes the freed slot: the dead pair's SAs can go
			break
		}
	}
	if wasCurrent {
		if ch.newestLike(csa) == nil && ch.Conn.Cfg.Version == 2 && !ch.Conn.MultiPeer() {
			ch.revive(now)
		}
		if next := ch.newestLike(csa); next != nil {
			next.bound = false
			next.Activate(now)
		}
		if !ch.anyBoundLike(csa) {
			c.DP.Unbind(csa.policy())
		}
	} else if sibling != nil && !ch.anyBoundLike(csa) {
		sibling.Activate(now)
	}
	csa.detachPolicy()
	c.DP.Retire(csa.in)
	c.DP.Retire(csa.out)
	delete(c.inbound, csa.p.InSPI)
	delete(c.bySA, csa.in)
	delete(c.bySA, csa.out)
	csa.Logger().Info("CHILD_SA deleted", zap.Bool("delete_sent", sendDelete), zap.String("reason", errString(reason)))
}

// revive (IKEv2) takes back the newest superseded pair that nothing deletes, when the pair
// that superseded it is gone before replacing it for good: an IKEv2 duplicate IKE SA's pair
// (its IKE_AUTH child activated over the pair of the SA uniqueids keeps, then went with its
// IKE SA), or a new pair the peer deleted at once. Without it the unit would have a working
// pair and no policy sending on it.
func (ch *ChildState) revive(now time.Time) {
	for i := len(ch.SAs) - 1; i >= 0; i-- {
		x := ch.SAs[i]
		if x.state != childSuperseded || x.deleteTimer.Armed() || x.out.Expired() {
			continue
		}
		x.state = childInstalled
		if x.rekeyAt.After(now) {
			x.c.Timers.Arm(x.softTimer, x.rekeyAt)
		} else if ch.Cfg.RekeyTime > 0 {
			x.c.Timers.Arm(x.softTimer, now)
		}
		x.Logger().Info("CHILD_SA in use again: the pair that superseded it is gone")
		return
	}
}

func (ch *ChildState) anyBound() bool {
	for _, x := range ch.SAs {
		if x.bound {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errUnconfirmed is why a kept pair goes (KeepUnconfirmed).
var errUnconfirmed = errors.New("negotiation unconfirmed and no packet from the peer on the pair")

// pendingRekeyRetry is how long a pair due for rekey waits when another exchange of its
// child is in flight.
const pendingRekeyRetry = 5 * time.Second

// softExpired starts a rekey of the unit's current pair (time, bytes or packets).
func (csa *ChildSA) softExpired(now time.Time) {
	if csa.state != childInstalled {
		return
	}
	if csa.kept {
		csa.dropUnconfirmed(now, "soft lifetime")
		return
	}
	ch := csa.ch
	if ch.Pending != nil {
		// Another exchange of this child is in flight (on a gateway, maybe for another
		// client's pair): try again shortly rather than never.
		if at := now.Add(pendingRekeyRetry); at.Before(csa.expiresAt) {
			csa.c.Timers.Arm(csa.softTimer, at)
		}
		return
	}
	csa.rekeyDue = true
	// The pair is rekeyed over its own IKE SA (IKEv2 requires it; a gateway's IKE SAs are
	// different clients'), else over the connection's current one.
	sa := ch.Conn.Current()
	if own := csa.ike; own != nil && own.Base().Established() && !own.Base().retiring {
		sa = own
	}
	if sa != nil {
		csa.Logger().Info("rekeying CHILD_SA")
		sa.StartChild(now, ch, csa)
		return
	}
	// No IKE SA left: a new one first; IKEEstablished starts the child.
	ch.Want = true
	if ch.Conn.Connecting() == nil && ch.Conn.Cfg.CanInitiate() {
		ch.Conn.startIKE(now, nil)
	}
}

// RekeyDue reports whether the pair passed its soft limit without a rekey yet.
func (csa *ChildSA) RekeyDue() bool { return csa.rekeyDue }

// RekeyFailed retries a failed rekey in 30 s while the pair lives.
func (csa *ChildSA) RekeyFailed(now time.Time) {
	if at := now.Add(30 * time.Second); at.Before(csa.expiresAt) && csa.state == childInstalled {
		csa.c.Timers.Arm(csa.softTimer, at)
	}
}

// hardExpired ends a pair at the end of its lifetime (time, or a byte/packet hard limit the
// data plane reported). If a newer pair waits to be switched to, traffic moves there now;
// otherwise a wanted child comes back.
func (csa *ChildSA) hardExpired(now time.Time, why string) {
	if csa.state == childDead {
		return
	}
	ch := csa.ch
	for _, x := range ch.SAs {
		if x != csa && x.state == childInstalled && x.SwitchPending() {
			x.Activate(now)
		}
	}
	csa.Logger().Info("CHILD_SA hard limit reached", zap.String("limit", why))
	csa.Remove(now, true, fmt.Errorf("%w (%s)", ErrExpired, why))
	if ch.Want && ch.Newest() == nil && ch.Pending == nil && ch.Conn.Cfg.CanInitiate() {
		ch.Conn.BringUp(now, []*ChildState{ch})
	}
}

// firstUse: the peer sends on our new inbound SA, so it has installed the pair: switch our
// outbound traffic to it now rather than after the safety delay.
func (csa *ChildSA) firstUse(now time.Time) {
	if f := csa.confirm; f != nil && csa.state != childDead {
		csa.confirm = nil
		f(now)
		return
	}
	if csa.state == childInstalled && csa.SwitchPending() {
		csa.Activate(now)
	}
}

// PeerMoved rebinds the outbound SA after the peer's address or ours changed (NAT-T float,
// NAT rebinding, MOBIKE). peer is the peer's NAT-T address and port with ESP-in-UDP, its
// address (port 0) with raw ESP.
func (csa *ChildSA) PeerMoved(now time.Time, peer netip.AddrPort, local netip.Addr) {
	if csa.p.Encap != esp.EncapUDP {
		peer = netip.AddrPortFrom(peer.Addr(), 0)
	}
	if csa.state == childDead || (csa.p.Peer == peer && csa.p.Local == local) {
		return
	}
	csa.p.Peer, csa.p.Local = peer, local
	if csa.p.Encap == esp.EncapUDP {
		csa.in.WatchSource(peer)
	}
	if csa.bound {
		if err := csa.c.DP.Bind(csa.policy(), csa.out, peer, local, csa.p.Encap, csa.mtu); err != nil {
			csa.Logger().Warn("cannot rebind the outbound SA to the peer's new address", zap.Error(err))
		}
	}
}

// SelectorsString renders selectors for logs.
func SelectorsString(s []esp.Selector) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x.String()
	}
	return out
}

// Bound reports whether the unit's policy sends through this pair.
func (csa *ChildSA) Bound() bool { return csa.bound }

// SAs returns the pair's data-plane SAs (tests and status; never log their keys).
func (csa *ChildSA) SAs() (in, out *esp.SA) { return csa.in, csa.out }

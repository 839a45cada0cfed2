package ikev1

// Child SA keys and installation (RFC 2409 §5.5 KEYMAT): a Quick Mode derives both SAs'
// keys and hands them, with everything else it negotiated, to the core, which installs the
// pair in the data plane.

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

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

// collidingRekey returns, for a Quick Mode the peer started, our own rekey of the same
// unit that is still waiting for its message 2: the peer sent its message 1 before ours
// reached it (it cannot have our new pair yet), so both exchanges replace the same pair.
func (qm *quickMode) collidingRekey() *quickMode {
	if qm.initiator || qm.ch == nil {
		return nil
	}
	own, ok := qm.ch.Pending.(*quickMode)
	if !ok || own == qm || !own.initiator || own.state != qmQM1Sent || own.held() || own.rekeyOf == nil || !own.rekeyOf.Alive() {
		return nil
	}
	return own
}

// crossedRekey returns, for a Quick Mode an oakley peer started to replace a pair our own
// completed rekey replaced too, that pair. Both Quick Modes' first messages were lost and
// went again at about the same moment: the peer saw ours while its own waited (a
// collision), but ours completed before the peer's arrived. Taken for a new pair here, the
// two ends kept different pairs (chaos-collisions, two oakleys, 20% IKE loss: 4 rounds of
// 15 lost the tunnel). The peer names the pair it replaces (OAKLEY-REKEY-SA), so a rekey of
// our new pair, which it may start at any time once it has that pair, is not mistaken for
// one.
func (qm *quickMode) crossedRekey() *core.ChildSA {
	if qm.initiator || qm.ch == nil || qm.peerRekeys == 0 {
		return nil
	}
	old := qm.ch.CrossedRekey(qm.peerRekeys)
	if old != nil {
		qm.c.Ctr.Inc(core.CtrLateCollisions)
		qm.log.Info("the peer's Quick Mode replaces the pair our own completed rekey replaced: a rekey collision",
			zap.String("replaced_spi_out", fmt.Sprintf("%08x", qm.peerRekeys)))
	}
	return old
}

// kilobyte is what IKEv1's "kilobytes" life type means here: 1000 bytes, as strongSwan
// reads and writes it (RFC 2407 §4.5 does not say), so both sides' byte limits agree.
const kilobyte = 1000

// install derives the keys of both SAs and has the core install the pair; the inbound SA
// takes traffic at once, the outbound one when the core activates it.
func (qm *quickMode) install(now time.Time) (*core.ChildSA, error) {
	sa, ch := qm.sa, qm.ch
	gqmxy, err := qm.gqmxy()
	if err != nil {
		return nil, err
	}
	defer gqmxy.Wipe()
	encIn, integIn := qm.childKeys(gqmxy, qm.spiIn)
	encOut, integOut := qm.childKeys(gqmxy, qm.spiOut)
	p := core.ChildParams{
		IKE: sa, Initiator: qm.initiator, Mode: ch.Mode(), InSPI: qm.spiIn, OutSPI: qm.spiOut,
		Enc: qm.tr.enc, Integ: qm.tr.integ, ESN: qm.tr.esn, PFS: qm.tr.group,
		EncIn: encIn, IntegIn: integIn, EncOut: encOut, IntegOut: integOut,
		LocalTS: qm.localTS, RemoteTS: qm.remoteTS,
		Encap: esp.EncapRaw, Peer: netip.AddrPortFrom(sa.Remote.Addr(), 0), Local: sa.ourIP(),
		Life: qm.life, LifeBytes: qm.lifeKB * kilobyte, Transform: qm.tr.String(), Detail: qm.tr.mode.String(),
	}
	if qm.udp {
		p.Encap, p.Peer = esp.EncapUDP, sa.Remote
	}
	if qm.proto == isakmp.ProtoAH {
		p.Enc = nil
	}
	if qm.rekeyOf != nil {
		// Also when the pair is gone (the peer deleted it while we rekeyed): it still
		// names the rekey, should the peer's have crossed ours.
		p.RekeyOf = qm.rekeyOf
	} else if own := qm.collidingRekey(); own != nil {
		// The peer's Quick Mode crossed ours: both replace the same pair (a rekey collision,
		// resolved by core.ChildSA.Established once both pairs are up).
		p.RekeyOf = own.rekeyOf
	} else if old := qm.crossedRekey(); old != nil {
		p.RekeyOf = old
	}
	p.CollisionKey = collisionKey(sa.ext.oakley, qm.initiator, qm.ni, qm.nr)
	csa, err := ch.Install(now, p)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	sa.madePairs = true
	return csa, nil
}

// collisionKey decides which of two colliding pairs goes (the lower key; core's
// resolveCollision). An oakley peer decides the same way, from the lower of each Quick
// Mode's two nonces. Any other peer (strongSwan) resolves nothing, and may have taken our
// Quick Mode, arriving after its own had completed, for a rekey of its new pair: deleting
// ours then left it only a pair it considers rekeyed and sends nothing on (chaos-collisions
// under IKE loss). Against such a peer we keep the pair we initiated: whether it saw a
// collision (it keeps both until our Delete) or a rekey of its pair (ours is its current
// one), our Delete of its pair leaves it ours.
func collisionKey(peerIsOakley, initiator bool, ni, nr []byte) []byte {
	if !peerIsOakley {
		if initiator {
			return []byte{1}
		}
		return []byte{0}
	}
	if bytes.Compare(nr, ni) < 0 {
		return append([]byte(nil), nr...)
	}
	return append([]byte(nil), ni...)
}

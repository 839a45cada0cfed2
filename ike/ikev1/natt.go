package ikev1

// NAT traversal (RFC 3947) and the vendor IDs that announce extensions: NAT-T (RFC 3947
// and draft-ietf-ipsec-nat-t-ike-02/03), DPD (RFC 3706), IKE fragmentation (frag.go), and,
// recognised only, XAUTH and Cisco Unity.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Vendor IDs.
var (
	// vidOakley names this implementation: the first 16 bytes of SHA-256("oakley IKEv1").
	vidOakley = func() []byte { h := sha256.Sum256([]byte("oakley IKEv1")); return h[:16] }()
	// RFC 3706 §5: DPD, version 1.0.
	vidDPD = mustHex("afcad71368a1f1c96b8696fc77570100")
	// RFC 3947 §3.1: MD5("RFC 3947").
	vidNATTRFC = mustHex("4a131c81070358455c5728f20e95452f")
	// draft-ietf-ipsec-nat-t-ike-02 (with and without the stray "\n"), -03.
	vidNATTDraft02N = mustHex("90cb80913ebb696e086381b5ec427b1f")
	vidNATTDraft02  = mustHex("cd60464335df21f87cfdb2fc68b6a448")
	vidNATTDraft03  = mustHex("7d9419a65310ca6f2c179d9215529d56")
	// IKE fragmentation: 16 bytes, then (as strongSwan and Cisco send it) 4 capability
	// bytes whose bit 0x80000000 says Main and Aggressive Mode messages may be fragmented.
	vidFragmentation     = mustHex("4048b7d56ebce88525e7de7f00d6c2d3")
	vidFragmentationCaps = mustHex("4048b7d56ebce88525e7de7f00d6c2d380000000")
	// Recognised, never sent.
	vidXAUTH      = mustHex("09002689dfd6b712")
	vidCiscoUnity = mustHex("12f5f28c457168a9702d9fe274cc") // + 2 version bytes
)

type nattVersion uint8

const (
	nattNone nattVersion = iota
	nattDraft
	nattRFC
)

// extensions is what the peer's vendor IDs announced.
type extensions struct {
	natt  nattVersion
	dpd   bool
	xauth bool
	unity bool
	frag  bool
	// oakley: the peer is oakley (its vendor ID), which resolves rekey collisions as we do
	oakley bool
	other  int
}

// processVendorIDs records the peer's extensions; unknown vendor IDs are only logged.
func (sa *ikeSA) processVendorIDs(c *isakmp.Chain) {
	for _, p := range c.Payloads {
		v, ok := p.(*isakmp.VendorID)
		if !ok {
			continue
		}
		d := v.Data
		switch {
		case bytes.Equal(d, vidNATTRFC):
			sa.ext.natt = nattRFC
		case bytes.Equal(d, vidNATTDraft02N), bytes.Equal(d, vidNATTDraft02), bytes.Equal(d, vidNATTDraft03):
			if sa.ext.natt == nattNone {
				sa.ext.natt = nattDraft
			}
		case bytes.Equal(d, vidDPD):
			sa.ext.dpd = true
		case bytes.Equal(d, vidXAUTH):
			sa.ext.xauth = true
		case len(d) == 16 && bytes.HasPrefix(d, vidCiscoUnity):
			sa.ext.unity = true
		case len(d) == 16 && bytes.Equal(d, vidFragmentation),
			len(d) == 20 && bytes.HasPrefix(d, vidFragmentation) && d[16]&0x80 != 0:
			sa.ext.frag = true
		case bytes.Equal(d, vidOakley):
			sa.ext.oakley = true
		default:
			sa.ext.other++
			sa.Log.Debug("unknown vendor ID", zap.String("vid", hex.EncodeToString(d)))
		}
	}
	if sa.Conn != nil && sa.Conn.Cfg.EncapOf() == "raw" {
		sa.ext.natt = nattNone
	}
}

// vendorIDs returns the vendor IDs we send: ours, DPD, FRAGMENTATION (announcesFragmentation)
// and NAT-T (an initiator offers RFC 3947 and draft-02; a responder echoes the best one it
// received), in rising priority: an answer that must shrink drops them from the front.
func (sa *ikeSA) vendorIDs(encap string) []isakmp.Payload {
	out := []isakmp.Payload{&isakmp.VendorID{Data: vidOakley}, &isakmp.VendorID{Data: vidDPD}}
	if sa.announcesFragmentation() {
		out = append(out, &isakmp.VendorID{Data: vidFragmentationCaps})
	}
	if encap == "raw" {
		return out
	}
	switch {
	case sa.Initiator:
		out = append(out, &isakmp.VendorID{Data: vidNATTRFC}, &isakmp.VendorID{Data: vidNATTDraft02N})
	case sa.ext.natt == nattRFC:
		out = append(out, &isakmp.VendorID{Data: vidNATTRFC})
	case sa.ext.natt == nattDraft:
		out = append(out, &isakmp.VendorID{Data: vidNATTDraft02N})
	}
	return out
}

// natState is what NAT discovery found (RFC 3947 §3).
type natState struct {
	local  bool // we are behind a NAT: the peer saw another address or port for us
	remote bool // the peer is behind a NAT
	fake   bool // encap = "udp": we faked our hash to force UDP encapsulation
	seen   bool // NAT-D payloads were exchanged
}

// inUse reports whether the SA uses NAT-T: the peer supports it and a NAT was found (or
// faked, strongSwan's forced encapsulation).
func (sa *ikeSA) nattInUse() bool {
	return sa.ext.natt != nattNone && (sa.nat.local || sa.nat.remote || sa.nat.fake)
}

// natdType is the NAT-D payload type for the negotiated NAT-T version.
func (sa *ikeSA) natdDraft() bool { return sa.ext.natt == nattDraft }

// ourPort is our port for messages sent now.
func (sa *ikeSA) ourPort() uint16 {
	if sa.NATT {
		return sa.c.NATTPort
	}
	return sa.c.IKEPort
}

// natdPayloads builds the two NAT-D payloads (RFC 3947 §3.2): first the hash of the
// destination (the peer as we send to it), then of the source (us). With encap = "udp"
// the source hash is random, so the peer sees us behind a NAT and both sides float, as
// strongSwan's encap=yes does.
func (sa *ikeSA) natdPayloads() []isakmp.Payload {
	if sa.ext.natt == nattNone {
		return nil
	}
	h := sa.tr.hash.Hash
	dst := natDiscoveryHash(h, sa.ckyI, sa.ckyR, sa.Remote)
	var src []byte
	if sa.Conn != nil && sa.Conn.Cfg.EncapOf() == "udp" {
		sa.nat.fake = true
		if sa.c.hooks.fakeNATD != nil {
			src = sa.c.hooks.fakeNATD(h.Size())
		} else {
			src = sa.c.RandBytes(h.Size())
		}
	} else {
		src = natDiscoveryHash(h, sa.ckyI, sa.ckyR, netip.AddrPortFrom(sa.ourIP(), sa.ourPort()))
	}
	d := sa.natdDraft()
	return []isakmp.Payload{&isakmp.NATDiscovery{Draft: d, Hash: dst}, &isakmp.NATDiscovery{Draft: d, Hash: src}}
}

// ourIP is our address towards the peer.
func (sa *ikeSA) ourIP() netip.Addr {
	if !sa.Local.IsValid() {
		var cfg *core.Connection
		if sa.Conn != nil {
			cfg = sa.Conn.Cfg
		}
		sa.Local = sa.c.LocalAddrFor(cfg, sa.Remote.Addr())
	}
	return sa.Local
}

// processNATD compares the peer's NAT-D hashes with ours (RFC 3947 §3.2): the first is
// the peer's view of us, any of the others must be the address the message came from.
func (sa *ikeSA) processNATD(c *isakmp.Chain, in *inbound) {
	if sa.ext.natt == nattNone {
		return
	}
	var hashes [][]byte
	for _, p := range c.Payloads {
		if n, ok := p.(*isakmp.NATDiscovery); ok {
			hashes = append(hashes, n.Hash)
		}
	}
	if len(hashes) < 2 {
		return
	}
	h := sa.tr.hash.Hash
	port := sa.c.IKEPort
	if in.NATT {
		port = sa.c.NATTPort
	}
	me := natDiscoveryHash(h, sa.ckyI, sa.ckyR, netip.AddrPortFrom(sa.ourIP(), port))
	sa.nat.seen = true
	sa.nat.local = !bytes.Equal(hashes[0], me)
	them := natDiscoveryHash(h, sa.ckyI, sa.ckyR, in.From)
	sa.nat.remote = true
	for _, x := range hashes[1:] {
		if bytes.Equal(x, them) {
			sa.nat.remote = false
		}
	}
	if sa.Conn != nil && sa.Conn.Cfg.EncapOf() == "udp" {
		sa.nat.fake = true
	}
	sa.Log.Debug("NAT detection", zap.Bool("local_behind_nat", sa.nat.local), zap.Bool("remote_behind_nat", sa.nat.remote), zap.Bool("forced", sa.nat.fake))
}

// float moves the initiator to the peer's NAT-T port (RFC 3947 §4: after NAT-D, MM5 and
// AM3 onwards go to port 4500 with the non-ESP marker).
func (sa *ikeSA) float() {
	if !sa.nattInUse() || sa.NATT {
		return
	}
	sa.NATT = true
	sa.Remote = netip.AddrPortFrom(sa.Remote.Addr(), sa.Conn.Cfg.RemoteNATTPortOf())
	sa.Log.Debug("floating to the NAT-T port", zap.Stringer("to", sa.Remote))
}

// updatePeer follows the peer to a new address or port after an authenticated message
// (RFC 3947 §4: a NAT may change the mapping; the responder floats when MM5 arrives on
// the NAT-T port).
func (sa *ikeSA) updatePeer(in *inbound) {
	if in.From != sa.Remote || in.NATT != sa.NATT {
		if in.NATT || !sa.NATT {
			sa.Remote, sa.NATT = in.From, in.NATT
			if a := in.Local.Addr(); a.IsValid() {
				sa.Local = a
			}
			for _, csa := range sa.ownedChildren() {
				if csa.Params().Encap == esp.EncapUDP {
					csa.PeerMoved(sa.c.Now, sa.Remote, sa.ourIP())
				}
			}
		}
	}
}

// ESPSourceMoved follows the peer to the source of an ESP-in-UDP datagram that verified under
// one of its inbound SAs (core.ESPSourceFollower). RFC 3947 §4: a NAT may drop a mapping that
// is still in use (a reboot, a keepalive interval too long); the end that is not behind a NAT
// should use the last valid UDP-encapsulated IKE or IPsec packet to find where the peer is
// now, while an end behind a NAT must not (its peer does not move, and following would let
// anyone who replays a packet redirect it). The ISAKMP SA and every pair it manages move.
func (sa *ikeSA) ESPSourceMoved(now time.Time, csa *core.ChildSA, from netip.AddrPort) {
	if !sa.Established() || !sa.NATT || !sa.nat.remote || sa.nat.local || from == sa.Remote {
		return
	}
	sa.c.FollowESPSource(now, &sa.SABase, csa, from, sa.ownedChildren(), sa.ourIP())
}

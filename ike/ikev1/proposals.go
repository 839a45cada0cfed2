package ikev1

// Proposals: the transforms of Phase 1 (RFC 2409 Appendix A) and Phase 2 (RFC 2407 §4.4,
// §4.5) as the engine sees them, their attributes, the cartesian expansion of configured
// proposals and the choice among the peer's transforms.

import (
	"fmt"
	"strings"
	"time"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// p1Transform is one ISAKMP (Phase 1) transform: encryption, hash, group, authentication
// method and lifetime (RFC 2409 Appendix A). KEY_IKE is its only Transform ID.
type p1Transform struct {
	enc    *crypto.Algorithm
	hash   *crypto.Algorithm // the KindInteg entry of the hash; its PRF is the HMAC
	group  *crypto.Algorithm
	auth   isakmp.AuthMethod
	life   time.Duration // 0 = no Life Duration in seconds
	lifeKB uint64        // accepted, never proposed
}

func (t p1Transform) String() string {
	return fmt.Sprintf("%s-%s-%s", t.enc.Name, t.hash.Name, t.group.Name)
}

// sameAlgorithms reports whether two transforms agree on everything but lifetimes.
func (t p1Transform) sameAlgorithms(o p1Transform) bool {
	return t.enc == o.enc && t.hash == o.hash && t.group == o.group && t.auth == o.auth
}

// attributes encodes the transform in the order strongSwan uses (so our proposal bytes
// match a strongSwan initiator's for the same configuration).
func (t p1Transform) attributes() []isakmp.Attribute {
	a := []isakmp.Attribute{isakmp.TV(isakmp.ClassEncryptionAlgorithm, t.enc.V1Phase1)}
	if t.enc.KeyLenAttr {
		a = append(a, isakmp.TV(isakmp.ClassKeyLength, uint16(t.enc.KeyBits)))
	}
	a = append(a,
		isakmp.TV(isakmp.ClassHashAlgorithm, t.hash.V1Phase1),
		isakmp.TV(isakmp.ClassGroupDescription, t.group.V1Phase1),
		isakmp.TV(isakmp.ClassAuthenticationMethod, uint16(t.auth)))
	if t.life > 0 {
		a = append(a, isakmp.TV(isakmp.ClassLifeType, isakmp.LifeTypeSeconds),
			isakmp.IntAttr(isakmp.ClassLifeDuration, uint64(t.life/time.Second)))
	}
	return a
}

// lifetime is the negotiated lifetime, RFC 2409 Appendix A's 28800 s when none was given.
func (t p1Transform) lifetime() time.Duration {
	if t.life == 0 {
		return core.DefaultLifetime
	}
	return t.life
}

// maxTransforms is the most transforms one Proposal payload carries (RFC 2408 §3.5: an
// 8-bit count).
const maxTransforms = 255

// expandP1 is the initiator's offer: one transform per combination of each configured
// proposal's algorithms, in configuration order (at most 255).
func expandP1(props []*crypto.Proposal, auth isakmp.AuthMethod, life time.Duration) []p1Transform {
	return expandP1Methods(props, []isakmp.AuthMethod{auth}, life)
}

// expandP1Methods is expandP1 for several authentication methods (public-key encryption
// offers the revised and the original mode): each combination once per method, the
// methods in preference order within each proposal.
func expandP1Methods(props []*crypto.Proposal, methods []isakmp.AuthMethod, life time.Duration) []p1Transform {
	var out []p1Transform
	for _, p := range props {
		for _, e := range p.Encr {
			for _, h := range p.Integ {
				for _, g := range p.DH {
					for _, m := range methods {
						if len(out) < maxTransforms {
							out = append(out, p1Transform{enc: e, hash: h, group: g, auth: m, life: life})
						}
					}
				}
			}
		}
	}
	return out
}

// p1SA builds the SA payload of an ISAKMP offer: one proposal (KEY_IKE, no SPI) with the
// transforms numbered from 1 (RFC 2409 §5: one proposal, several transforms).
func p1SA(trs []p1Transform) *isakmp.SA {
	p := isakmp.Proposal{Number: 1, ProtocolID: isakmp.ProtoISAKMP}
	for i, t := range trs {
		p.Transforms = append(p.Transforms, isakmp.Transform{Number: uint8(i + 1), ID: isakmp.TransformKeyIKE, Attributes: t.attributes()})
	}
	return &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentityOnly, Proposals: []isakmp.Proposal{p}}
}

// parseLife reads Life Type / Life Duration pairs (RFC 2409 Appendix A, RFC 2407 §4.5):
// a Duration applies to the Type before it.
type lifeParser struct {
	typ          uint16
	secs, kbytes uint64
}

func (lp *lifeParser) attr(a isakmp.Attribute, typeAttr, durAttr isakmp.AttributeType) (bool, error) {
	switch a.Type {
	case typeAttr:
		v, err := a.Uint()
		if err != nil || (v != uint64(isakmp.LifeTypeSeconds) && v != uint64(isakmp.LifeTypeKilobytes)) {
			return true, fmt.Errorf("life type %d", v)
		}
		lp.typ = uint16(v)
		return true, nil
	case durAttr:
		v, err := a.Uint()
		if err != nil {
			return true, fmt.Errorf("life duration: %v", err)
		}
		switch lp.typ {
		case isakmp.LifeTypeSeconds:
			lp.secs = v
		case isakmp.LifeTypeKilobytes:
			lp.kbytes = v
		default:
			return true, fmt.Errorf("life duration without life type")
		}
		return true, nil
	}
	return false, nil
}

func secondsDuration(s uint64) time.Duration {
	const max = uint64(100 * 365 * 24 * 3600)
	if s > max {
		s = max
	}
	return time.Duration(s) * time.Second
}

// parseP1Transform reads an ISAKMP transform. Attributes this engine cannot honour
// (private groups, a PRF attribute, unknown classes) make it unacceptable.
func parseP1Transform(tr *isakmp.Transform) (p1Transform, error) {
	var t p1Transform
	if tr.ID != isakmp.TransformKeyIKE {
		return t, fmt.Errorf("transform ID %d is not KEY_IKE", tr.ID)
	}
	var encID, hashID, groupID, keyLen uint64
	var lp lifeParser
	for _, a := range tr.Attributes {
		if ok, err := lp.attr(a, isakmp.ClassLifeType, isakmp.ClassLifeDuration); ok {
			if err != nil {
				return t, err
			}
			continue
		}
		v, err := a.Uint()
		if err != nil {
			return t, fmt.Errorf("attribute %d: %v", a.Type, err)
		}
		switch a.Type {
		case isakmp.ClassEncryptionAlgorithm:
			encID = v
		case isakmp.ClassHashAlgorithm:
			hashID = v
		case isakmp.ClassAuthenticationMethod:
			t.auth = isakmp.AuthMethod(v)
		case isakmp.ClassGroupDescription:
			groupID = v
		case isakmp.ClassKeyLength:
			keyLen = v
		default:
			return t, fmt.Errorf("unsupported attribute class %d", a.Type)
		}
	}
	if encID > 0xffff || hashID > 0xffff || groupID > 0xffff || keyLen > 0xffff {
		return t, fmt.Errorf("attribute value out of range")
	}
	if t.enc = crypto.ByV1Phase1(crypto.KindEncr, uint16(encID), int(keyLen)); t.enc == nil && keyLen == 0 {
		t.enc = crypto.ByV1Phase1(crypto.KindEncr, uint16(encID), 128) // AES without Key Length
	}
	t.hash = crypto.ByV1Phase1(crypto.KindInteg, uint16(hashID), 0)
	t.group = crypto.ByV1Phase1(crypto.KindDH, uint16(groupID), 0)
	switch {
	case t.enc == nil:
		return t, fmt.Errorf("encryption %d/%d bits not supported", encID, keyLen)
	case t.hash == nil:
		return t, fmt.Errorf("hash %d not supported", hashID)
	case t.group == nil:
		return t, fmt.Errorf("group %d not supported", groupID)
	case t.auth == 0:
		return t, fmt.Errorf("no authentication method")
	}
	t.life = secondsDuration(lp.secs)
	t.lifeKB = lp.kbytes
	return t, nil
}

// p1AcceptableFor reports whether a connection accepts t: its method and algorithms.
func p1AcceptableFor(cs *core.Conn, t p1Transform) bool {
	for _, m := range authMethods(cs.Cfg) {
		if p1Acceptable(props(cs), t, m, cs.Cfg.InsecureAlgorithms) {
			return true
		}
	}
	return false
}

// p1Acceptable reports whether one configured proposal allows t.
func p1Acceptable(props []*crypto.Proposal, t p1Transform, auth isakmp.AuthMethod, insecure bool) bool {
	if t.auth != auth {
		return false
	}
	if !insecure && (t.enc.Insecure || t.hash.Insecure || t.group.Insecure) {
		return false
	}
	for _, p := range props {
		if contains(p.Encr, t.enc) && contains(p.Integ, t.hash) && contains(p.DH, t.group) {
			return true
		}
	}
	return false
}

func contains(list []*crypto.Algorithm, a *crypto.Algorithm) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// describeP1Offer lists the peer's transforms for a NO-PROPOSAL-CHOSEN log line.
func describeP1Offer(sa *isakmp.SA) string {
	var s []string
	for pi := range sa.Proposals {
		for ti := range sa.Proposals[pi].Transforms {
			t, err := parseP1Transform(&sa.Proposals[pi].Transforms[ti])
			if err != nil {
				s = append(s, "unsupported("+err.Error()+")")
				continue
			}
			s = append(s, t.String()+"/"+t.auth.String())
		}
	}
	return strings.Join(s, ", ")
}

func describeProposals(props []*crypto.Proposal) string {
	var s []string
	for _, p := range props {
		s = append(s, p.Text)
	}
	return strings.Join(s, ", ")
}

// p2Transform is one IPsec (Phase 2) transform: ESP (cipher, integrity or AEAD) or AH
// (integrity), PFS group, ESN, encapsulation mode and lifetimes (RFC 2407 §4.4, §4.5).
type p2Transform struct {
	proto  isakmp.ProtocolID
	enc    *crypto.Algorithm // ESP only
	integ  *crypto.Algorithm // nil for an AEAD
	group  *crypto.Algorithm // nil = no PFS
	esn    bool
	mode   isakmp.EncapsulationMode
	life   time.Duration // 0 = not sent
	lifeKB uint64        // 0 = not sent
}

func (t p2Transform) String() string {
	var s []string
	if t.enc != nil {
		s = append(s, t.enc.Name)
	}
	if t.integ != nil {
		s = append(s, t.integ.Name)
	}
	if t.group != nil {
		s = append(s, t.group.Name)
	}
	if t.esn {
		s = append(s, "esn")
	}
	return strings.Join(s, "-")
}

// id returns the Transform ID: the ESP transform of the cipher, or the AH transform of the
// integrity algorithm (RFC 2407 §4.4.3, §4.4.4).
func (t p2Transform) id() uint8 {
	if t.proto == isakmp.ProtoAH {
		return uint8(t.integ.V1AH)
	}
	return uint8(t.enc.V1ESP)
}

// attributes encodes the transform in strongSwan's order: key length, authentication
// algorithm, group, encapsulation mode, lifetimes, ESN.
func (t p2Transform) attributes() []isakmp.Attribute {
	var a []isakmp.Attribute
	if t.enc != nil && t.enc.KeyLenAttr {
		a = append(a, isakmp.TV(isakmp.AttrKeyLength, uint16(t.enc.KeyBits)))
	}
	if t.integ != nil {
		a = append(a, isakmp.TV(isakmp.AttrAuthenticationAlgorithm, t.integ.V1Auth))
	}
	if t.group != nil {
		a = append(a, isakmp.TV(isakmp.AttrGroupDescription, t.group.V1Phase1))
	}
	a = append(a, isakmp.TV(isakmp.AttrEncapsulationMode, uint16(t.mode)))
	if t.life > 0 {
		a = append(a, isakmp.TV(isakmp.AttrSALifeType, isakmp.LifeTypeSeconds),
			isakmp.IntAttr(isakmp.AttrSALifeDuration, uint64(t.life/time.Second)))
	}
	if t.lifeKB > 0 {
		a = append(a, isakmp.TV(isakmp.AttrSALifeType, isakmp.LifeTypeKilobytes),
			isakmp.IntAttr(isakmp.AttrSALifeDuration, t.lifeKB))
	}
	if t.esn {
		a = append(a, isakmp.TV(isakmp.AttrExtendedSequenceNumber, 1))
	}
	return a
}

// sameAlgorithms reports whether two transforms agree on everything but lifetimes and the
// UDP variant of the mode.
func (t p2Transform) sameAlgorithms(o p2Transform) bool {
	return t.proto == o.proto && t.enc == o.enc && t.integ == o.integ && t.group == o.group &&
		t.esn == o.esn && modeIsTransport(t.mode) == modeIsTransport(o.mode)
}

func modeIsTransport(m isakmp.EncapsulationMode) bool {
	return m == isakmp.EncapTransport || m == isakmp.EncapUDPTransport || m == isakmp.EncapUDPTransportDraft
}

func modeIsUDP(m isakmp.EncapsulationMode) bool {
	switch m {
	case isakmp.EncapUDPTunnel, isakmp.EncapUDPTransport, isakmp.EncapUDPTunnelDraft, isakmp.EncapUDPTransportDraft:
		return true
	}
	return false
}

// encapMode returns the Encapsulation Mode value for tunnel/transport with or without UDP
// encapsulation: RFC 3947 §5.1's 3/4, or draft-02's 61443/61444 with a draft peer.
func encapMode(transport, udp, draft bool) isakmp.EncapsulationMode {
	switch {
	case !udp && !transport:
		return isakmp.EncapTunnel
	case !udp:
		return isakmp.EncapTransport
	case draft && transport:
		return isakmp.EncapUDPTransportDraft
	case draft:
		return isakmp.EncapUDPTunnelDraft
	case transport:
		return isakmp.EncapUDPTransport
	}
	return isakmp.EncapUDPTunnel
}

// parseP2Transform reads an ESP or AH transform (RFC 2407 §4.4, §4.5).
func parseP2Transform(proto isakmp.ProtocolID, tr *isakmp.Transform) (p2Transform, error) {
	t := p2Transform{proto: proto, mode: isakmp.EncapTunnel}
	var authID, groupID, keyLen uint64
	var lp lifeParser
	for _, a := range tr.Attributes {
		if ok, err := lp.attr(a, isakmp.AttrSALifeType, isakmp.AttrSALifeDuration); ok {
			if err != nil {
				return t, err
			}
			continue
		}
		v, err := a.Uint()
		if err != nil {
			return t, fmt.Errorf("attribute %d: %v", a.Type, err)
		}
		switch a.Type {
		case isakmp.AttrGroupDescription:
			groupID = v
		case isakmp.AttrEncapsulationMode:
			t.mode = isakmp.EncapsulationMode(v)
			switch t.mode {
			case isakmp.EncapTunnel, isakmp.EncapTransport, isakmp.EncapUDPTunnel, isakmp.EncapUDPTransport,
				isakmp.EncapUDPTunnelDraft, isakmp.EncapUDPTransportDraft:
			default:
				return t, fmt.Errorf("encapsulation mode %d", v)
			}
		case isakmp.AttrAuthenticationAlgorithm:
			authID = v
		case isakmp.AttrKeyLength:
			keyLen = v
		case isakmp.AttrExtendedSequenceNumber:
			t.esn = v == 1
		case isakmp.AttrECNTunnel:
			// RFC 3168 §9.2.1: allowed or not, our tunnel copies no ECN bits either way.
		default:
			return t, fmt.Errorf("unsupported attribute %d", a.Type)
		}
	}
	if authID > 0xffff || groupID > 0xffff || keyLen > 0xffff {
		return t, fmt.Errorf("attribute value out of range")
	}
	switch proto {
	case isakmp.ProtoESP:
		t.enc = crypto.ByV1ESP(uint16(tr.ID), int(keyLen))
		if t.enc == nil && keyLen == 0 {
			t.enc = crypto.ByV1ESP(uint16(tr.ID), 128)
		}
		if t.enc == nil {
			return t, fmt.Errorf("ESP transform %d/%d bits not supported", tr.ID, keyLen)
		}
		if authID != 0 {
			if t.integ = crypto.ByV1Auth(uint16(authID)); t.integ == nil {
				return t, fmt.Errorf("authentication algorithm %d not supported", authID)
			}
		}
		if t.enc.AEAD && t.integ != nil {
			return t, fmt.Errorf("%s with an authentication algorithm", t.enc.Name)
		}
		if !t.enc.AEAD && t.integ == nil {
			return t, fmt.Errorf("%s without authentication (not supported)", t.enc.Name)
		}
	case isakmp.ProtoAH:
		t.integ = crypto.ByV1AH(uint16(tr.ID))
		if t.integ == nil {
			return t, fmt.Errorf("AH transform %d not supported", tr.ID)
		}
		if authID != 0 && uint16(authID) != t.integ.V1Auth {
			return t, fmt.Errorf("AH transform %d with authentication algorithm %d", tr.ID, authID)
		}
	default:
		return t, fmt.Errorf("protocol %s", proto)
	}
	if groupID != 0 {
		if t.group = crypto.ByV1Phase1(crypto.KindDH, uint16(groupID), 0); t.group == nil {
			return t, fmt.Errorf("group %d not supported", groupID)
		}
	}
	t.life = secondsDuration(lp.secs)
	t.lifeKB = lp.kbytes
	return t, nil
}

// v1Proto is the IKEv1 protocol ID of a child unit: AH or ESP.
func v1Proto(ch *core.ChildState) isakmp.ProtocolID {
	if ch.Proto == esp.AH {
		return isakmp.ProtoAH
	}
	return isakmp.ProtoESP
}

// pfsGroup returns the DH group a child's Quick Mode uses (nil = no PFS): the Phase 1
// group when a proposal offers it, else the first group configured (strongSwan's rule).
func pfsGroup(props []*crypto.Proposal, phase1 *crypto.Algorithm) *crypto.Algorithm {
	var first *crypto.Algorithm
	for _, p := range props {
		for _, g := range p.DH {
			if g == phase1 {
				return g
			}
			if first == nil {
				first = g
			}
		}
	}
	return first
}

// expandP2 is the initiator's Quick Mode offer: every combination of each configured
// proposal, restricted to the PFS group when there is one (a Quick Mode carries one KE).
func expandP2(proto isakmp.ProtocolID, props []*crypto.Proposal, group *crypto.Algorithm, mode isakmp.EncapsulationMode, life time.Duration, lifeKB uint64) []p2Transform {
	var out []p2Transform
	for _, p := range props {
		if group != nil && !contains(p.DH, group) {
			continue
		}
		esns := []bool{false}
		if len(p.ESN) > 0 {
			esns = esns[:0]
			for _, e := range p.ESN {
				esns = append(esns, e.ESN)
			}
		}
		integs := p.Integ
		if proto == isakmp.ProtoESP && p.AEAD() {
			integs = []*crypto.Algorithm{nil}
		}
		encs := p.Encr
		if proto == isakmp.ProtoAH {
			encs = []*crypto.Algorithm{nil}
		}
		for _, e := range encs {
			for _, i := range integs {
				for _, esn := range esns {
					if len(out) == maxTransforms {
						return out
					}
					out = append(out, p2Transform{proto: proto, enc: e, integ: i, group: group, esn: esn, mode: mode, life: life, lifeKB: lifeKB})
				}
			}
		}
	}
	return out
}

// p2Acceptable reports whether a configured proposal allows t. A transform that adds PFS
// to a proposal without a group is accepted (it only adds secrecy).
func p2Acceptable(props []*crypto.Proposal, t p2Transform, insecure bool) bool {
	if !insecure && (t.enc != nil && t.enc.Insecure || t.integ != nil && t.integ.Insecure || t.group != nil && t.group.Insecure) {
		return false
	}
	for _, p := range props {
		if t.proto == isakmp.ProtoESP && !contains(p.Encr, t.enc) {
			continue
		}
		if t.integ == nil {
			if !p.AEAD() {
				continue
			}
		} else if !contains(p.Integ, t.integ) {
			continue
		}
		if len(p.DH) > 0 && (t.group == nil || !contains(p.DH, t.group)) {
			continue
		}
		esnOK := len(p.ESN) == 0 && !t.esn
		for _, e := range p.ESN {
			if e.ESN == t.esn {
				esnOK = true
			}
		}
		if esnOK {
			return true
		}
	}
	return false
}

// describeP2Offer lists the peer's Phase 2 transforms for a log line.
func describeP2Offer(sa *isakmp.SA) string {
	var s []string
	for pi := range sa.Proposals {
		p := &sa.Proposals[pi]
		for ti := range p.Transforms {
			t, err := parseP2Transform(p.ProtocolID, &p.Transforms[ti])
			if err != nil {
				s = append(s, p.ProtocolID.String()+":unsupported("+err.Error()+")")
				continue
			}
			s = append(s, t.String())
		}
	}
	return strings.Join(s, ", ")
}

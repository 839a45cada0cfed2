package ikev2

// SA payloads (RFC 7296 §2.7, §3.3): the proposals we offer, the responder's choice of one
// proposal with one transform of each type, and the initiator's check that the choice is
// one it offered. A configured proposal ("aes128gcm16-prfsha256-ecp256-modp2048") becomes
// one wire proposal whose transforms of a type are alternatives (§3.3.6).

import (
	"bytes"
	"fmt"

	"oakley/crypto"
	"oakley/ike/ikev2/wire"
)

// choice is one negotiated transform set: the IKE SA's (enc, integ, prf, dh) or a child's
// (enc, integ, dh for PFS, esn). integ is nil for an AEAD, dh nil without PFS.
type choice struct {
	number                   uint8 // the proposal number it came from
	spi                      []byte
	enc, integ, prf, dh, esn *crypto.Algorithm
}

func (c *choice) String() string {
	var parts []string
	for _, a := range []*crypto.Algorithm{c.enc, c.integ, c.prf, c.dh} {
		if a != nil {
			parts = append(parts, a.Name)
		}
	}
	if c.esn != nil && c.esn.ESN {
		parts = append(parts, "esn")
	}
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += "-"
		}
		out += p
	}
	return out
}

// transforms returns the transforms that name the choice (a response's single proposal).
func (c *choice) transforms(proto wire.ProtocolID) []wire.Transform {
	var out []wire.Transform
	for _, a := range []*crypto.Algorithm{c.enc, c.prf, c.integ, c.dh} {
		if a != nil {
			out = append(out, wire.TransformFor(a))
		}
	}
	if proto != wire.ProtoIKE && c.esn != nil {
		out = append(out, wire.TransformFor(c.esn))
	}
	return out
}

// offer builds the proposals of an SA payload (§3.3): one per configured proposal. For IKE
// every type; for ESP and AH encryption (ESP), integrity (unless AEAD), KE only with
// withKE (PFS in CREATE_CHILD_SA; IKE_AUTH carries none, §1.2) and ESN.
func offer(proto wire.ProtocolID, props []*crypto.Proposal, spi []byte, withKE bool) []wire.Proposal {
	var out []wire.Proposal
	for _, p := range props {
		wp := wire.Proposal{Number: uint8(len(out) + 1), Protocol: proto, SPI: spi}
		add := func(list []*crypto.Algorithm) {
			for _, a := range list {
				wp.Transforms = append(wp.Transforms, wire.TransformFor(a))
			}
		}
		switch proto {
		case wire.ProtoIKE:
			add(p.Encr)
			add(p.PRF)
			if !p.AEAD() {
				add(p.Integ)
			}
			add(p.DH)
		default:
			if proto == wire.ProtoESP {
				add(p.Encr)
			}
			if !p.AEAD() {
				add(p.Integ)
			}
			if withKE {
				add(p.DH)
			}
			add(esnOf(p))
		}
		if len(wp.Transforms) > 0 && len(out) < 255 {
			out = append(out, wp)
		}
	}
	return out
}

// esnOf is a child proposal's ESN list (no ESN when it names none).
func esnOf(p *crypto.Proposal) []*crypto.Algorithm {
	if len(p.ESN) > 0 {
		return p.ESN
	}
	return []*crypto.Algorithm{crypto.Lookup("noesn")}
}

// peerTransforms sorts a received proposal's transforms by type, resolved through the
// registry (nil: a transform oakley does not implement). ok is false for a proposal
// with a transform type this protocol does not use (§3.3.6: unacceptable).
func peerTransforms(pp *wire.Proposal) (byType map[wire.TransformType][]*crypto.Algorithm, none map[wire.TransformType]bool, ok bool) {
	byType, none = map[wire.TransformType][]*crypto.Algorithm{}, map[wire.TransformType]bool{}
	for _, t := range pp.Transforms {
		switch t.Type {
		case wire.TransformENCR, wire.TransformPRF, wire.TransformINTEG, wire.TransformKE, wire.TransformESN:
		default:
			return nil, nil, false
		}
		if t.ID == 0 && (t.Type == wire.TransformINTEG || t.Type == wire.TransformKE) {
			none[t.Type] = true // NONE (§3.3.2)
			continue
		}
		byType[t.Type] = append(byType[t.Type], t.Algorithm())
	}
	return byType, none, true
}

// selectOpts tunes the responder's choice.
type selectOpts struct {
	proto wire.ProtocolID
	// ignoreKE: the SA comes with IKE_AUTH, which has no KE payload (§1.2): KE transforms
	// are not negotiated.
	ignoreKE bool
	// preferGroup: the group of the KE payload received, chosen when acceptable so no
	// INVALID_KE_PAYLOAD round trip is needed.
	preferGroup uint16
	// insecure allows algorithms that need the opt-in.
	insecure bool
}

// selectProposal is the responder's choice (§2.7): our proposals in our order, the first
// peer proposal compatible with one, and within it our preferred algorithm of each type.
func selectProposal(ours []*crypto.Proposal, peer []wire.Proposal, o selectOpts) (*choice, error) {
	for _, mine := range ours {
		for i := range peer {
			pp := &peer[i]
			if pp.Protocol != o.proto {
				continue
			}
			if c := matchProposal(mine, pp, o); c != nil {
				return c, nil
			}
		}
	}
	return nil, fail(wire.NotifyNoProposalChosen, ErrNoProposalChosen, "none of the peer's %d %s proposals matches ours (%s)", len(peer), o.proto, proposalsText(ours))
}

func proposalsText(ps []*crypto.Proposal) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.Text
	}
	return s
}

// matchProposal picks one transform of each type from a peer proposal, or nil.
func matchProposal(mine *crypto.Proposal, pp *wire.Proposal, o selectOpts) *choice {
	byType, none, ok := peerTransforms(pp)
	if !ok {
		return nil
	}
	pick := func(t wire.TransformType, ours []*crypto.Algorithm, prefer uint16) *crypto.Algorithm {
		var first *crypto.Algorithm
		for _, a := range ours {
			if a.Insecure && !o.insecure {
				continue
			}
			for _, b := range byType[t] {
				if a == b {
					if prefer != 0 && a.Group == prefer {
						return a
					}
					if first == nil {
						first = a
					}
				}
			}
		}
		return first
	}
	c := &choice{number: pp.Number, spi: pp.SPI}
	if o.proto == wire.ProtoESP || o.proto == wire.ProtoIKE {
		if c.enc = pick(wire.TransformENCR, mine.Encr, 0); c.enc == nil {
			return nil
		}
	} else if len(byType[wire.TransformENCR]) > 0 {
		return nil
	}
	if mine.AEAD() {
		if len(byType[wire.TransformINTEG]) > 0 {
			return nil // RFC 5282 §8: an AEAD proposal has no integrity transform
		}
	} else if c.integ = pick(wire.TransformINTEG, mine.Integ, 0); c.integ == nil {
		return nil
	}
	switch o.proto {
	case wire.ProtoIKE:
		if c.prf = pick(wire.TransformPRF, mine.PRF, 0); c.prf == nil {
			return nil
		}
		if c.dh = pick(wire.TransformKE, mine.DH, o.preferGroup); c.dh == nil {
			return nil
		}
		if len(byType[wire.TransformESN]) > 0 {
			return nil
		}
	default:
		if len(byType[wire.TransformPRF]) > 0 {
			return nil
		}
		switch {
		case o.ignoreKE:
		case len(mine.DH) == 0:
			if len(byType[wire.TransformKE]) > 0 && !none[wire.TransformKE] {
				return nil // the peer wants PFS, we do not
			}
		default:
			if c.dh = pick(wire.TransformKE, mine.DH, o.preferGroup); c.dh == nil {
				return nil
			}
		}
		if len(byType[wire.TransformESN]) == 0 {
			c.esn = crypto.Lookup("noesn")
		} else if c.esn = pick(wire.TransformESN, esnOf(mine), 0); c.esn == nil {
			return nil
		}
	}
	return c
}

// checkChoice is the initiator's check of the responder's SA payload (§2.7, §3.3.6): one
// proposal, numbered as one of ours, one transform per type, each one we offered in that
// proposal, every type the protocol needs.
func checkChoice(offered []wire.Proposal, resp *wire.SA, proto wire.ProtocolID, spiLen int) (*choice, error) {
	bad := func(format string, args ...any) error {
		return fail(wire.NotifyInvalidSyntax, ErrNoProposalChosen, "the responder's %s proposal: %s", proto, fmt.Sprintf(format, args...))
	}
	if resp == nil || len(resp.Proposals) != 1 {
		return nil, bad("want exactly one proposal")
	}
	rp := &resp.Proposals[0]
	if rp.Protocol != proto || int(rp.Number) < 1 || int(rp.Number) > len(offered) || len(rp.SPI) != spiLen {
		return nil, bad("protocol %s, number %d, SPI of %d bytes", rp.Protocol, rp.Number, len(rp.SPI))
	}
	mine := &offered[rp.Number-1]
	c := &choice{number: rp.Number, spi: rp.SPI}
	seen := map[wire.TransformType]bool{}
	for _, t := range rp.Transforms {
		if seen[t.Type] {
			return nil, bad("two %s transforms", t.Type)
		}
		seen[t.Type] = true
		if !offeredTransform(mine, t) {
			return nil, bad("%s %d was not offered", t.Type, t.ID)
		}
		a := t.Algorithm()
		if a == nil {
			if t.ID == 0 && (t.Type == wire.TransformKE || t.Type == wire.TransformINTEG) {
				continue
			}
			return nil, bad("%s %d is unknown", t.Type, t.ID)
		}
		switch t.Type {
		case wire.TransformENCR:
			c.enc = a
		case wire.TransformPRF:
			c.prf = a
		case wire.TransformINTEG:
			c.integ = a
		case wire.TransformKE:
			c.dh = a
		case wire.TransformESN:
			c.esn = a
		}
	}
	offeredType := func(t wire.TransformType) bool {
		for _, x := range mine.Transforms {
			if x.Type == t {
				return true
			}
		}
		return false
	}
	switch {
	case proto != wire.ProtoAH && c.enc == nil:
		return nil, bad("no encryption transform")
	case (c.enc == nil || !c.enc.AEAD) && c.integ == nil:
		return nil, bad("no integrity transform")
	case proto == wire.ProtoIKE && (c.prf == nil || c.dh == nil):
		return nil, bad("no PRF or KE transform")
	case proto != wire.ProtoIKE && offeredType(wire.TransformKE) && c.dh == nil:
		return nil, bad("no KE transform although we asked for PFS")
	}
	if proto != wire.ProtoIKE && c.esn == nil {
		c.esn = crypto.Lookup("noesn")
	}
	return c, nil
}

// offeredTransform reports whether p carries t (type, ID and attributes).
func offeredTransform(p *wire.Proposal, t wire.Transform) bool {
	for _, x := range p.Transforms {
		if x.Type != t.Type || x.ID != t.ID || len(x.Attributes) != len(t.Attributes) {
			continue
		}
		same := true
		for i := range x.Attributes {
			a, b := x.Attributes[i], t.Attributes[i]
			if a.Type != b.Type || a.TV != b.TV || a.Value != b.Value || !bytes.Equal(a.Data, b.Data) {
				same = false
			}
		}
		if same {
			return true
		}
	}
	return false
}

// groupsOf lists the DH groups a set of proposals offers, in order.
func groupsOf(props []*crypto.Proposal) []*crypto.Algorithm {
	var out []*crypto.Algorithm
	seen := map[*crypto.Algorithm]bool{}
	for _, p := range props {
		for _, g := range p.DH {
			if !seen[g] {
				seen[g] = true
				out = append(out, g)
			}
		}
	}
	return out
}

package crypto

import (
	"errors"
	"fmt"
	"strings"
)

// Protocol says what a proposal is for; the same keyword means different things in each
// (in IKEv1 Phase 1 "sha256" is the hash algorithm, in ESP the HMAC-SHA2-256-128 integrity
// transform, in IKEv2 both the integrity transform and, by default, the PRF).
type Protocol uint8

const (
	ProtoIKEv1 Protocol = iota + 1 // IKEv1 Phase 1 (ISAKMP SA)
	ProtoIKEv2                     // IKEv2 IKE SA
	ProtoESP
	ProtoAH
)

func (p Protocol) String() string {
	switch p {
	case ProtoIKEv1:
		return "IKEv1"
	case ProtoIKEv2:
		return "IKEv2"
	case ProtoESP:
		return "ESP"
	case ProtoAH:
		return "AH"
	}
	return "unknown"
}

// ErrInsecure marks an algorithm that needs the explicit insecure opt-in.
var ErrInsecure = errors.New("crypto: algorithm needs insecure_algorithms = true")

// Proposal is one parsed proposal string such as "aes256-sha256-modp2048". Each slice holds
// the algorithms offered for that transform type, in the order written; a negotiation may pick
// any combination (IKEv1 expands it into one transform per combination).
type Proposal struct {
	Text  string
	Encr  []*Algorithm
	Integ []*Algorithm
	PRF   []*Algorithm
	DH    []*Algorithm
	ESN   []*Algorithm
}

// String returns the proposal as written.
func (p *Proposal) String() string { return p.Text }

// AEAD reports whether the proposal's ciphers are combined-mode.
func (p *Proposal) AEAD() bool { return len(p.Encr) > 0 && p.Encr[0].AEAD }

// ParseProposal parses a strongSwan-style proposal for a protocol. Unknown keywords, insecure
// algorithms without allowInsecure, an AEAD mixed with an integrity algorithm and missing
// transform types are errors whose text names the offending keyword.
func ParseProposal(proto Protocol, text string, allowInsecure bool) (*Proposal, error) {
	p := &Proposal{Text: text}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("empty proposal")
	}
	for _, kw := range strings.Split(text, "-") {
		a := Lookup(kw)
		if a == nil {
			return nil, fmt.Errorf("unknown algorithm %q in proposal %q", kw, text)
		}
		if a.Insecure && !allowInsecure {
			return nil, fmt.Errorf("%s in proposal %q is insecure: %w", a.Name, text, ErrInsecure)
		}
		switch a.Kind {
		case KindEncr:
			p.Encr = append(p.Encr, a)
		case KindInteg:
			p.Integ = append(p.Integ, a)
		case KindPRF:
			p.PRF = append(p.PRF, a)
		case KindDH:
			p.DH = append(p.DH, a)
		case KindESN:
			p.ESN = append(p.ESN, a)
		}
	}
	if err := p.check(proto); err != nil {
		return nil, fmt.Errorf("proposal %q: %w", text, err)
	}
	return p, nil
}

func (p *Proposal) check(proto Protocol) error {
	aead, plain := 0, 0
	for _, e := range p.Encr {
		if e.AEAD {
			aead++
		} else {
			plain++
		}
	}
	if aead > 0 && plain > 0 {
		return errors.New("mixes AEAD and non-AEAD encryption; write them as separate proposals")
	}
	if aead > 0 && len(p.Integ) > 0 {
		return fmt.Errorf("%s is an AEAD and carries its own integrity: drop %s", p.Encr[0].Name, p.Integ[0].Name)
	}
	if proto != ProtoESP && proto != ProtoAH && len(p.ESN) > 0 {
		return fmt.Errorf("%s applies to ESP and AH only", p.ESN[0].Name)
	}
	switch proto {
	case ProtoIKEv1:
		if len(p.Encr) == 0 {
			return errors.New("IKEv1 needs an encryption algorithm (e.g. aes256)")
		}
		for _, e := range p.Encr {
			if e.V1Phase1 == 0 {
				return fmt.Errorf("%s is not defined for IKEv1 Phase 1 (use aes128/aes256/3des)", e.Name)
			}
		}
		if len(p.Integ) == 0 {
			return errors.New("IKEv1 needs a hash algorithm (e.g. sha256)")
		}
		if len(p.PRF) > 0 {
			return fmt.Errorf("%s: IKEv1 uses the HMAC of its hash algorithm as PRF; drop it", p.PRF[0].Name)
		}
		if len(p.DH) == 0 {
			return errors.New("IKEv1 needs a Diffie-Hellman group (e.g. modp2048 or ecp256)")
		}
	case ProtoIKEv2:
		if len(p.Encr) == 0 {
			return errors.New("IKEv2 needs an encryption algorithm")
		}
		for _, e := range p.Encr {
			if e.ESPOnly {
				return fmt.Errorf("%s is for ESP only", e.Name)
			}
		}
		if aead == 0 && len(p.Integ) == 0 {
			return fmt.Errorf("%s needs an integrity algorithm (e.g. %s-sha256)", p.Encr[0].Name, p.Encr[0].Name)
		}
		if len(p.PRF) == 0 {
			if aead > 0 {
				p.PRF = []*Algorithm{Lookup("prfsha256"), Lookup("prfsha384"), Lookup("prfsha512")}
			} else {
				for _, i := range p.Integ {
					p.PRF = append(p.PRF, PRFFor(i))
				}
			}
		}
		if len(p.DH) == 0 {
			return errors.New("IKEv2 needs a Diffie-Hellman group (e.g. ecp256)")
		}
	case ProtoESP:
		if len(p.Encr) == 0 {
			return errors.New("ESP needs an encryption algorithm (null for integrity only)")
		}
		if len(p.PRF) > 0 {
			return fmt.Errorf("%s: ESP has no PRF", p.PRF[0].Name)
		}
		if aead == 0 && len(p.Integ) == 0 {
			return fmt.Errorf("%s needs an integrity algorithm (e.g. %s-sha256)", p.Encr[0].Name, p.Encr[0].Name)
		}
	case ProtoAH:
		if len(p.Encr) > 0 {
			return fmt.Errorf("%s: AH does not encrypt", p.Encr[0].Name)
		}
		if len(p.PRF) > 0 {
			return fmt.Errorf("%s: AH has no PRF", p.PRF[0].Name)
		}
		if len(p.Integ) == 0 {
			return errors.New("AH needs an integrity algorithm (e.g. sha256)")
		}
	}
	if len(p.ESN) == 0 && (proto == ProtoESP || proto == ProtoAH) {
		p.ESN = []*Algorithm{Lookup("noesn")}
	}
	return nil
}

// DefaultProposals are offered when a connection lists none (RFC 8221 / RFC 8247 choices).
func DefaultProposals(proto Protocol) []string {
	switch proto {
	case ProtoIKEv1:
		return []string{"aes256-sha256-modp2048", "aes128-sha256-ecp256"}
	case ProtoIKEv2:
		return []string{"aes128gcm16-prfsha256-ecp256-curve25519-modp2048", "aes256-sha256-ecp256-modp2048"}
	case ProtoESP:
		return []string{"aes128gcm16", "aes256gcm16", "aes128-sha256"}
	case ProtoAH:
		return []string{"sha256"}
	}
	return nil
}

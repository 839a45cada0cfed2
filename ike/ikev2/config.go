package ikev2

// What IKEv2 needs of a connection beyond the core's checks, and its constants.

import (
	"fmt"
	"time"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
)

// IKEv2 constants.
const (
	// nonceLen is our nonce size: 32 bytes, at least half the key of every PRF we offer
	// (RFC 7296 §2.10 asks for 128 bits and half the PRF's key size; SHA-512 keys are 64).
	nonceLen = 32
	// maxInitRetries bounds the IKE_SA_INIT retries after COOKIE and INVALID_KE_PAYLOAD.
	maxInitRetries = 3
	// rekeyedSATimeout: an IKE SA the peer rekeyed (or a redundant one from a collision) is
	// deleted locally after this long if the peer's Delete does not come.
	rekeyedSATimeout = 30 * time.Second
	// retryTemporary is how long we wait after TEMPORARY_FAILURE before trying again.
	retryTemporary = 2 * time.Second
	// outboundSwitchFallback: a rekey responder switches its outbound traffic to the new
	// pair at the first packet the peer sends on it, when the old pair is deleted, or after
	// this long at the latest (strongSwan switches on the Delete).
	outboundSwitchFallback = 30 * time.Second
	// amplificationFactor bounds the answer to an unauthenticated IKE_SA_INIT request, as a
	// multiple of the request's size (the anti-amplification limit of QUIC, RFC 9000 §8).
	amplificationFactor = 3
)

// defaultIKE are the IKE proposals of a connection that names none.
var defaultIKE = core.DefaultProposals(crypto.ProtoIKEv2)

// Validate checks what IKEv2 needs of a connection beyond the core's checks.
func (p *Protocol) Validate(conn *core.Connection) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: connection %q: %s", ErrConfig, conn.Name, fmt.Sprintf(format, args...))
	}
	if conn.Aggressive {
		return bad("Aggressive Mode is IKEv1 only")
	}
	switch conn.Auth {
	case "", "psk", "pubkey":
	default:
		return bad("auth = %q is not available with IKEv2", conn.Auth)
	}
	for _, pr := range conn.Proposals {
		if pr == nil || len(pr.Encr) == 0 || len(pr.PRF) == 0 || len(pr.DH) == 0 || !pr.AEAD() && len(pr.Integ) == 0 {
			return bad("IKE proposal %v needs encryption, integrity (unless AEAD), PRF and DH group", pr)
		}
		for _, a := range allOf(pr) {
			if a.Kind == crypto.KindEncr && a.ESPOnly {
				return bad("%s in proposal %q is for ESP only", a.Name, pr.Text)
			}
			if a.Insecure && !conn.InsecureAlgorithms {
				return bad("%s in proposal %q needs insecure_algorithms", a.Name, pr.Text)
			}
		}
	}
	for _, ch := range conn.Children {
		if len(ch.AHProposals) > 0 && conn.EncapOf() != "raw" {
			return bad("child %q: AH cannot be UDP-encapsulated; it needs encap = \"raw\"", ch.Name)
		}
		for _, pr := range ch.ESPProposals {
			if pr == nil || len(pr.Encr) == 0 || !pr.AEAD() && len(pr.Integ) == 0 {
				return bad("child %q: ESP proposal %v needs encryption and integrity (unless AEAD)", ch.Name, pr)
			}
		}
		for _, pr := range ch.AHProposals {
			if pr == nil || len(pr.Integ) == 0 {
				return bad("child %q: AH proposal without integrity algorithm", ch.Name)
			}
		}
		for _, list := range [][]esp.Selector{ch.LocalTS, ch.RemoteTS} {
			for _, s := range list {
				if s.PortLo > s.PortHi {
					return bad("child %q: traffic selector %s has an empty port range", ch.Name, s)
				}
			}
		}
	}
	return nil
}

// allOf lists every algorithm of a proposal.
func allOf(p *crypto.Proposal) []*crypto.Algorithm {
	var out []*crypto.Algorithm
	for _, l := range [][]*crypto.Algorithm{p.Encr, p.Integ, p.PRF, p.DH, p.ESN} {
		out = append(out, l...)
	}
	return out
}

// ikeProps are the connection's IKE proposals (or the defaults).
func ikeProps(cfg *core.Connection) []*crypto.Proposal {
	if len(cfg.Proposals) > 0 {
		return cfg.Proposals
	}
	return defaultIKE
}

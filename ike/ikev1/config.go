package ikev1

import (
	"crypto/rsa"
	"fmt"
	"time"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/pki"
)

// IKEv1 constants.
const (
	nonceLen            = 32
	outboundSwitchDelay = 1 * time.Second // rekey initiator: new outbound SA used this long after QM3 at the latest
	amSettle            = 50 * time.Millisecond
	maxResponderQMs     = 16 // Quick Modes a peer may have in progress with us per ISAKMP SA
	recentMIDs          = 64 // Phase 2 / Informational message IDs remembered per ISAKMP SA (replays)
)

// defaultIKE are the IKE proposals of a connection that names none.
var defaultIKE = core.DefaultProposals(crypto.ProtoIKEv1)

// Validate checks what IKEv1 needs of a connection beyond the core's checks.
func (c *Protocol) Validate(conn *core.Connection) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: connection %q: %s", core.ErrConfig, conn.Name, fmt.Sprintf(format, args...))
	}
	if err := validateAuth(conn, bad); err != nil {
		return err
	}
	for _, p := range conn.Proposals {
		if p == nil || len(p.Encr) == 0 || len(p.Integ) == 0 || len(p.DH) == 0 {
			return bad("IKE proposal %v needs encryption, hash and DH group", p)
		}
		for _, a := range append(append(append([]*crypto.Algorithm{}, p.Encr...), p.Integ...), p.DH...) {
			if a.V1Phase1 == 0 {
				return bad("%s in proposal %q is not defined for IKEv1 Phase 1", a.Name, p.Text)
			}
			if a.Insecure && !conn.InsecureAlgorithms {
				return bad("%s in proposal %q needs insecure_algorithms", a.Name, p.Text)
			}
		}
	}
	for _, ch := range conn.Children {
		for _, list := range [][]esp.Selector{ch.LocalTS, ch.RemoteTS} {
			for _, s := range list {
				// RFC 2407 §4.6.2: an IKEv1 ID carries one port (or 0 for all).
				if !s.AnyPort() && s.PortLo != s.PortHi {
					return bad("child %q: traffic selector %s: IKEv1 IDs carry a single port, not a range", ch.Name, s)
				}
			}
		}
		for _, p := range ch.ESPProposals {
			if p == nil || len(p.Encr) == 0 {
				return bad("child %q: ESP proposal without encryption", ch.Name)
			}
			for _, e := range p.Encr {
				if e.V1ESP == 0 {
					return bad("child %q: %s has no IKEv1 ESP transform ID", ch.Name, e.Name)
				}
			}
			for _, i := range p.Integ {
				if i.V1Auth == 0 {
					return bad("child %q: %s has no IKEv1 authentication algorithm", ch.Name, i.Name)
				}
			}
		}
		for _, p := range ch.AHProposals {
			if p == nil || len(p.Integ) == 0 {
				return bad("child %q: AH proposal without integrity algorithm", ch.Name)
			}
			for _, i := range p.Integ {
				if i.V1AH == 0 {
					return bad("child %q: %s has no IKEv1 AH transform ID", ch.Name, i.Name)
				}
			}
		}
	}
	return nil
}

// props are the connection's IKE proposals (or the defaults).
func props(cs *core.Conn) []*crypto.Proposal {
	if len(cs.Cfg.Proposals) > 0 {
		return cs.Cfg.Proposals
	}
	return defaultIKE
}

// validateAuth checks what a connection's authentication needs in IKEv1 (the core checked
// that certificates and trust are there).
func validateAuth(conn *core.Connection, bad func(format string, args ...any) error) error {
	switch authFamily(conn) {
	case authPubkey:
		if _, err := sigMethodOf(conn); err != nil {
			return bad("auth = \"pubkey\": %v", err)
		}
	case authPKE:
		// STANDARDS.md: the public-key-encryption modes are a Bleichenbacher oracle
		// (Felsch et al., USENIX Security 2018) and stay behind the opt-in.
		if !conn.InsecureAlgorithms {
			return bad("auth = %q (IKEv1 public-key encryption) needs insecure_algorithms", conn.Auth)
		}
		if _, ok := conn.Creds.Signer().(*rsa.PrivateKey); !ok {
			return bad("auth = %q needs an RSA key (RFC 2409 §5.2 encrypts with RSA), not %s", conn.Auth, pki.KeyDescription(conn.Creds.Signer().Public()))
		}
		if conn.CanInitiate() && conn.Trust.Pinned() == nil {
			return bad("auth = %q as initiator needs the peer's certificate in remote_cert: the first encrypted message is encrypted to it", conn.Auth)
		}
		if len(pkeMethods(conn)) == 0 {
			return bad("auth = %q: the original mode needs remote_cert, the revised one remote_cert or cacerts", conn.Auth)
		}
	}
	return nil
}

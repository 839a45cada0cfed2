package core

// Certificate credentials of a connection (auth = "pubkey"), shared by both IKE versions:
// what pki loaded from cert/key, cacerts/remote_cert/crls and send_cert, and the
// fragmentation setting (CONFIG.md). Connection embeds Credentials, so the fields read as
// conn.Creds, conn.Trust, conn.SendCert and conn.Fragmentation.

import (
	"fmt"

	"oakley/ike/pki"
)

// Credentials are a connection's certificates and trust. Plain data, read-only after New
// (the pki types are immutable and safe for concurrent use).
type Credentials struct {
	// Creds is our certificate chain and private key (auth = "pubkey").
	Creds *pki.Credentials
	// Trust verifies the peer's certificate (cacerts, remote_cert, crls).
	Trust *pki.Trust
	// SendCert says when our certificate goes to the peer (send_cert; the zero value is
	// "ifasked").
	SendCert pki.SendCert
	// Fragmentation is the fragmentation setting ("yes" | "accept" | "force" | "no"; ""
	// = "yes"): IKEv1 fragmentation, IKEv2 RFC 7383.
	Fragmentation string
}

// validateCredentials checks what auth = "pubkey" needs: our credentials and something to
// verify the peer's certificate with.
func validateCredentials(c *Connection) error {
	switch {
	case c.Creds == nil:
		return fmt.Errorf("%w: connection %q: auth = \"pubkey\" needs a certificate and its private key", ErrConfig, c.Name)
	case c.Trust == nil:
		return fmt.Errorf("%w: connection %q: auth = \"pubkey\" needs cacerts or remote_cert to verify the peer", ErrConfig, c.Name)
	}
	switch c.Fragmentation {
	case "", "yes", "accept", "force", "no":
	default:
		return fmt.Errorf("%w: connection %q: fragmentation %q", ErrConfig, c.Name, c.Fragmentation)
	}
	return nil
}

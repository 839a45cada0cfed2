package core

// Certificate credentials of a connection, shared by both IKE versions: our own certificate
// chain and key, what verifies the peer's certificate, when we send ours, and IKE
// fragmentation (which certificates make necessary). Connection embeds Credentials, so the
// fields read as conn.Creds, conn.Trust, conn.SendCert and conn.Fragmentation.

import "oakley/ike/pki"

// Credentials are the certificate fields of a Connection (auth = "pubkey" or "pke"). Plain
// data, read-only after New like the rest of the Connection; the pki values are immutable
// and safe for concurrent use.
type Credentials struct {
	Creds    *pki.Credentials // our certificate chain and private key (cert, key)
	Trust    *pki.Trust       // cacerts, remote_cert and crls: what verifies the peer
	SendCert pki.SendCert     // send_cert: ifasked (default) | always | never
	// Fragmentation is IKE fragmentation (the IKEv1 vendor-ID extension / RFC 7383):
	// "yes" (the default, "") | "accept" | "force" | "no", with strongSwan's meanings.
	Fragmentation string
}

// FragmentationOf returns the connection's fragmentation setting ("yes" by default).
func (c *Connection) FragmentationOf() string {
	if c.Fragmentation == "" {
		return "yes"
	}
	return c.Fragmentation
}

// validateCredentials checks the certificate fields a connection's auth needs.
func validateCredentials(c *Connection, bad func(format string, args ...any) error) error {
	switch c.Fragmentation {
	case "", "yes", "accept", "force", "no":
	default:
		return bad("fragmentation %q", c.Fragmentation)
	}
	switch c.Auth {
	case "pubkey", "pke", "pke-revised", "pke-original":
		// With EAP-MSCHAPv2 the client proves itself with its password, and the gateway
		// verifies no client certificate.
		eapClient, eapGateway := c.EAP != "" && len(c.Pools) == 0, c.EAP != "" && len(c.Pools) > 0
		if c.Creds == nil && !eapClient {
			return bad("auth = %q needs our certificate and key", c.Auth)
		}
		if c.Trust == nil && !eapGateway {
			return bad("auth = %q needs cacerts or remote_cert to verify the peer", c.Auth)
		}
	}
	return nil
}

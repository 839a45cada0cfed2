// Package pki holds what certificate authentication needs in both IKE versions: loading
// certificates, keys and CRLs; our own credentials and what to send for a CERTREQ; trust in
// the peer's certificate (RFC 5280 path validation, CRLs, pinning); the binding of an
// identity to a certificate and remote_id matching; and the signature formats of IKEv1
// (RFC 2409 §5.1, RFC 4754) and IKEv2 (RFC 7296 §2.15/§3.8, RFC 4754, RFC 7427, RFC 8420).
// It imports only the standard library; it knows nothing of payload framing, sockets or
// SAs, so the engines of both versions call it the same way.
//
// # Files and configuration (CONFIG.md)
//
//	cert        LoadCredentials: PEM (end entity, then its intermediates) or DER
//	key         LoadCredentials/LoadPrivateKey: PKCS#1, PKCS#8 or SEC1, PEM or DER; RSA,
//	            ECDSA P-256/384/521, Ed25519; refused if group/other may read or write it
//	cacerts     LoadTrust: trust anchors, each must be a CA
//	remote_cert LoadTrust: the pinned peer certificate
//	crls        LoadTrust/LoadCRL: PEM or DER
//	send_cert   ParseSendCert, SendCert.ShouldSend
//
// CheckFiles runs every file check for `oakley check` and separates warnings from errors.
// Every file read is bounded in size, and every error names the key, the file and the
// reason; none quotes key material.
//
// # Rules chosen
//
// Pinning (remote_cert), as strongSwan treats a remote `certs` constraint: with remote_cert
// alone the peer's certificate must be byte-equal to it and is then trusted without a CA
// (validity, keyUsage and, when the peer sent the CRL's issuer, revocation still apply);
// with remote_cert and cacerts both must hold: it must be the pinned certificate and chain
// to an anchor. An empty peer chain uses the pinned certificate.
//
// Path validation follows RFC 5280 §6 without the policy machinery: validity of every
// certificate including the anchor (strongSwan also rejects an expired CA), basicConstraints
// cA on every issuer (a v1 self-signed root is accepted as an anchor only), pathLen,
// keyCertSign on issuers with a keyUsage extension, digitalSignature or nonRepudiation on
// the end entity with one (RFC 4945 §5.1.3.2), unhandled critical extensions refused, name
// constraints enforced. Extended key usage is not required. Certificates signed with SHA-1
// or MD5 are refused (crypto/x509 does; strongSwan still accepts SHA-1).
//
// Revocation (RFC 5280 §6.3): a CRL is used for a certificate when its signature verifies
// with the issuer's key (the issuer may be an anchor or an intermediate the peer sent) and
// the issuer may sign CRLs. A listed serial is ErrRevoked; when every CRL of the issuer is
// past nextUpdate, Verify fails with ErrCRLStale (strict: a stale CRL cannot prove a
// certificate is still good, and `oakley check` reports it too); a certificate whose issuer
// has no loaded CRL passes, as with strongSwan's default relaxed policy. Delta CRLs and
// issuingDistributionPoint scopes are not interpreted: a listed serial is revoked whatever
// the scope.
//
// Identities (BindID): addresses bind to iPAddress subjectAltNames, FQDNs to dNSNames and
// user@FQDNs to rfc822Names (case-insensitively), DNs to the subject (compared semantically:
// same RDNs and attribute types in order, string values after space and case folding,
// RFC 5280 §7.1). ID_KEY_ID binds like strongSwan's x509 has_subject: to the SHA-1 of the
// certificate, the subjectKeyIdentifier, the SHA-1 of the SubjectPublicKeyInfo or of the
// subjectPublicKey bits, or the serial number. remote_id matching (MatchID) follows
// strongSwan too: %any, case-insensitive names with a leading "*" wildcard, DN patterns with
// "*" as a whole value.
//
// CERTREQ: we ask with the anchors (IKEv1: one DER subject DN per CA; IKEv2: SHA-1 of each
// CA's SubjectPublicKeyInfo). We send the end entity and the intermediates up to, not
// including, the first CA the peer's CERTREQ names, never a self-signed root; with several
// credentials SelectCredentials picks the first whose chain the CERTREQ names. send_cert =
// ifasked sends after any CERTREQ, as strongSwan's COND_CERTREQ_SEEN does.
//
// Signatures: IKEv1 RSA signs HASH_I/HASH_R with PKCS#1 v1.5 padding and no DigestInfo;
// IKEv1 ECDSA signs HASH_I/HASH_R (computed with HMAC of the method's hash, see
// V1Method.AuthHash) as the digest itself, r||s. IKEv2 methods 1, 9-11 and 14 as in RFC 7296,
// RFC 4754 and RFC 7427; SHA-1 is used only by method 1, which RFC 7296 defines that way.
//
// # Concurrency
//
// Trust, Credentials and Verified are immutable after construction and safe for concurrent
// use by any number of IKE SAs (Trust's CRL signature cache is guarded by a mutex). A
// CertRequest is filled by the one goroutine that drives an SA, then only read. The
// functions have no shared state. No function reads the clock: Verify and CheckFiles take
// the time, and the signing functions take the randomness source (crypto/ecdsa may use its
// own).
package pki

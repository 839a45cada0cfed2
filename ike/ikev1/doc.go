// Package ikev1 is IKEv1 for oakley's IKE core: Main Mode and Aggressive Mode (RFC 2409 §5)
// authenticated with pre-shared keys (§5.4), signatures with certificates (§5.1: RSA, and
// ECDSA per RFC 4754) or public-key encryption (§5.2, §5.3; behind insecure_algorithms),
// Quick Mode (§5.5) for ESP and AH, Informational exchanges (Delete, notifications,
// RFC 2408 §4.8), Dead Peer Detection (RFC 3706), NAT traversal (RFC 3947) and the IKEv1
// fragmentation extension (payload 132), on top of the wire format in oakley/ike/isakmp, the
// algorithms of oakley/crypto, certificates and trust from oakley/ike/pki, and the shared
// core (oakley/ike/core), which owns connections, child SAs, timers, the half-open table,
// DPD decisions and status.
//
// # Authentication
//
// auth.go holds the authenticator seam; auth_sig.go (signatures), auth_pke.go with pke.go
// and pke_exchange.go (public-key encryption) and certs.go (CERT and CERTREQ payloads, in
// strongSwan's places) implement it. The proposal names one method for both peers, so an
// RSA peer and an ECDSA peer cannot meet (selectP1 says so). A Main Mode responder chooses
// its connection by address and offer, then (signatures, pre-shared keys) by the identity
// in message 5, whose connection's trust then verifies the certificate; with public-key
// encryption by the decrypted identity of message 3. Public-key-encryption decryption
// failures never show: they fail at the HASH check like any wrong nonce (pke.go).
//
// # Shape
//
// Protocol implements core.Protocol; each ISAKMP SA (ikeSA, phase1.go) implements
// core.IKESA and embeds the shared core.SABase. An ISAKMP SA and each Quick Mode
// (quickMode, quickmode.go) are state structs fed a decoded message or a fired timer
// together with an explicit now. They send through the core's outbox, arm timers in the
// core's heap, and hand negotiated child SAs to the core (core.ChildState.Install), which
// installs them in the data plane. Each exchange handler reads as a list of named steps
// (crypto/tls style); message building lives apart from the state machines (messages.go),
// and the derivations carry the RFC's names (skeyid, skeyidD, skeyidA, skeyidE, hashI,
// hashR, quickModeHash1/2/3, phase2IV, natDiscoveryHash, keymat; keys.go).
//
// # What is not here
//
// XAUTH and Mode Config (Transaction exchanges are ignored and counted), DSS signatures
// (method 2), hybrid authentication, PKCS#7-wrapped certificates and CRLs in CERT payloads
// (ignored; crls come from files), IPComp, New Group Mode,
// combined AH+ESP bundles (a child uses ESP or AH), the commit bit (ignored, as Libreswan
// does: it is unauthenticated). A Quick Mode carries one IDci/IDcr pair: the core splits a
// child with several selectors into one unit per pair.
package ikev1

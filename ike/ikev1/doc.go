// Package ikev1 is IKEv1 for oakley's IKE core: Main Mode and Aggressive Mode (RFC 2409 §5)
// with pre-shared keys, Quick Mode (§5.5) for ESP and AH, Informational exchanges (Delete,
// notifications, RFC 2408 §4.8), Dead Peer Detection (RFC 3706) and NAT traversal
// (RFC 3947), on top of the wire format in oakley/ike/isakmp, the algorithms of
// oakley/crypto, and the shared core (oakley/ike/core), which owns connections, child SAs,
// timers, the half-open table, DPD decisions and status.
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
// XAUTH and Mode Config (Transaction exchanges are ignored and counted), IKEv1
// fragmentation (we never announce it, so peers do not fragment), IPComp, New Group Mode,
// combined AH+ESP bundles (a child uses ESP or AH), the commit bit (ignored, as Libreswan
// does: it is unauthenticated). A Quick Mode carries one IDci/IDcr pair: the core splits a
// child with several selectors into one unit per pair.
package ikev1

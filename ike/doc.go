// Package ike is oakley's IKEv1 engine: Main Mode and Aggressive Mode (RFC 2409 §5) with
// pre-shared keys, Quick Mode (§5.5) for ESP and AH, Informational exchanges (Delete,
// notifications, RFC 2408 §4.8), Dead Peer Detection (RFC 3706) and NAT traversal
// (RFC 3947), on top of the wire format in oakley/ike/isakmp, the algorithms of
// oakley/crypto and the data plane of oakley/esp.
//
// # Shape
//
// The engine owns no socket and no clock. The daemon hands it every IKE datagram
// (HandleMessage, from the data plane's OnIKE callback) and every acquire (Acquire, from
// OnAcquire); the engine answers through the Dataplane interface (SendIKE, SendKeepalive,
// AddInbound, NewBinding, ...). Randomness (cookies, nonces, DH private values, SPIs,
// message IDs, jitter) comes from Config.Rand and wall-clock time from Config.Now, so two
// engines joined in memory run a whole Main Mode + Quick Mode deterministically.
//
// Inside, the protocol is pure code. An ISAKMP SA (ikeSA, phase1.go) and each Quick Mode
// (quickMode, quickmode.go) are state structs; the engine core (core.go) feeds them a
// decoded message or a fired timer together with an explicit now. They append what to send
// to the core's outbox, arm and stop timers in the core's timer heap, and install or
// delete child SAs through the Dataplane. Each exchange handler reads as a list of named
// steps (crypto/tls style); message building lives apart from the state machines
// (messages.go), and the derivations carry the RFC's names (skeyid, skeyidD, skeyidA,
// skeyidE, hashI, hashR, quickModeHash1/2/3, phase2IV, natDiscoveryHash, keymat; keys.go).
//
// # Concurrency
//
// Run is the only goroutine that touches protocol state: a select over the inbox channel,
// the next timer deadline and ctx. HandleMessage and Acquire copy their input and enqueue
// it without blocking (a full inbox drops and counts). Initiate, Terminate, Rekey and
// Status send a request to Run and wait for its answer, so they are safe for concurrent
// use but need Run to be running. Counters reads atomic counters and is safe at any time.
//
// # What is not here
//
// Authentication by signatures and public-key encryption (the authenticator interface in
// auth.go is the seam), XAUTH and Mode Config (Transaction exchanges are ignored and
// counted), IKEv1 fragmentation (we never announce it, so peers do not fragment), IPComp,
// New Group Mode, combined AH+ESP bundles (a child uses ESP or AH), the commit bit
// (ignored, as Libreswan does: it is unauthenticated), stateless responder cookies (the
// half-open state is bounded instead). A Quick Mode carries one IDci/IDcr pair: a child
// with several selectors negotiates its first local and remote selector. A %any
// connection serves one peer at a time (its children's policies have one outbound SA).
package ike

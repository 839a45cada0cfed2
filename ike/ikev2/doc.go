// Package ikev2 is IKEv2 (RFC 7296) on oakley's protocol-neutral IKE core (ike/core), over
// the ike/ikev2/wire codec: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL, as
// initiator and responder. New returns the core.Protocol; ike.Engine attaches it beside
// IKEv1, and the core hands it every datagram whose header says major version 2.
//
// # What it does
//
//   - IKE_SA_INIT (init.go): proposals (proposals.go), KE with INVALID_KE_PAYLOAD and the retry
//     with the group asked for, nonces, NAT detection with the move to port 4500, UDP
//     encapsulation and keepalives (nat.go), the stateless cookie of §2.6 (cookie.go), and
//     SIGNATURE_HASH_ALGORITHMS / CERTREQ for certificate authentication.
//   - IKE_AUTH (auth.go, authmethod.go): IDi/IDr, AUTH with a pre-shared key (method 2) or a
//     certificate signature through ike/pki (methods 1, 9–11 and RFC 7427's 14), CERT/CERTREQ
//     and send_cert, INITIAL_CONTACT, and the first child SA. The responder chooses its
//     connection by IDi (and IDr) among core.Candidates for the initiator's address.
//   - CREATE_CHILD_SA (child.go, child_responder.go, rekey.go): more children, child rekeys
//     with and without PFS (REKEY_SA), IKE SA rekeys, and the collisions of §2.8.1/§2.8.2.
//   - INFORMATIONAL (informational.go): Deletes, the empty liveness check the core's DPD
//     sends, notifications.
//   - Message IDs, window size 1 with retransmission (core.Retransmitter), the reply cache
//     for retransmitted requests (answered only towards the SA's known peer), SKF fragments
//     reassembled with a bounded wire.Reassembler per IKE SA (messages.go).
//   - Traffic selectors (ts.go): several per child, ranges and ports, the responder's
//     narrowing (§2.9), TS_UNACCEPTABLE; a range that is not a prefix becomes several
//     data-plane selectors.
//   - Keys (keys.go): SKEYSEED and SK_* (§2.14), the rekeyed SKEYSEED (§2.18), child KEYMAT
//     (§2.17), the octets AUTH covers (§2.15), over crypto.PRF.Plus (prf+, §2.13).
//
// Not yet: MOBIKE, sending RFC 7383 fragments (we reassemble the peer's, and so do not
// announce IKEV2_FRAGMENTATION_SUPPORTED), configuration payloads (virtual IPs; IKE_AUTH has
// the place for that step), EAP, the key log.
//
// # Choices
//
//   - Cookies (§2.6) are demanded once 32 IKE SAs are half-open in all, or 3 from the
//     request's address (cookieThreshold, cookieThresholdPerSource; strongSwan's defaults
//     are 30 and 3). The core's half-open table bounds the state (1024 in all, 32 per source,
//     30 s each); a cookie is HMAC-SHA-256 over Ni, the initiator's address and SPIi with a
//     secret that changes every two minutes.
//   - No answer to an unauthenticated IKE_SA_INIT request is more than three times its size
//     (the limit QUIC uses against amplification, RFC 9000 §8); refusals are one
//     notification and keep no state.
//   - A rekey responder sends on the new pair when the initiator is seen using it, when the
//     old pair is deleted, or after 30 s; the responder of a new child sends on it at once.
//     The initiator of a rekey deletes the old pair 3 s after switching (core.RekeyGrace)
//     and keeps its inbound SA until the peer answers the Delete, so nothing the peer sent
//     on it before switching is lost.
//   - On Terminate, shutdown or expiry the IKE SA leaves the core at once and its Delete
//     goes out with the next Message ID even when a request of ours is unanswered (waiting
//     for the window would lose it at shutdown); it is retransmitted until answered.
//   - rekey_time = 0 neither rekeys nor expires the IKE SA; otherwise it is rekeyed at
//     rekey_time (with jitter) and expires at rekey_time + 10% (strongSwan's over_time).
//   - A request unanswered after every retransmission means the peer is dead (§2.4): the
//     connection's dpd_action applies (core.PeerDead).
//
// # Concurrency
//
// A Protocol and its SAs are owned by the core's goroutine (see ike/core): not safe for
// concurrent use.
package ikev2

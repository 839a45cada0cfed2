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
//
//   - IKE_AUTH (auth.go, authmethod.go): IDi/IDr, AUTH with a pre-shared key (method 2) or a
//     certificate signature through ike/pki (methods 1, 9–11 and RFC 7427's 14), CERT/CERTREQ
//     and send_cert, INITIAL_CONTACT, and the first child SA. The responder chooses its
//     connection by IDi (and IDr) among core.Candidates for the initiator's address.
//
//   - CREATE_CHILD_SA (child.go, child_responder.go, rekey.go): more children, child rekeys
//     with and without PFS (REKEY_SA), IKE SA rekeys, and the collisions of §2.8.1/§2.8.2.
//
//   - INFORMATIONAL (informational.go): Deletes, the empty liveness check the core's DPD
//     sends, notifications.
//
//   - Message IDs, window size 1 with retransmission (core.Retransmitter), the reply cache
//     for retransmitted requests (answered only towards the SA's known peer), SKF fragments
//     reassembled with a bounded wire.Reassembler per IKE SA (messages.go).
//
//   - RFC 7383 fragmentation (fragsend.go): IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT
//     unless fragmentation = "no"; with "yes" (and "force") a protected message larger than
//     one 1280-byte datagram goes as SKF fragments once both sides announced support;
//     retransmissions and answers from the reply cache resend every fragment.
//
//   - MOBIKE, RFC 4555 (mobike.go), with mobike = true: MOBIKE_SUPPORTED in IKE_AUTH, the
//     initiator on the NAT-T port from IKE_AUTH on; the original initiator checks every
//     second whether its address is gone and, if the route to the peer now leaves from
//     another one, moves the IKE SA and its children's outbound bindings there and sends
//     UPDATE_SA_ADDRESSES with NAT detection; the responder of an authenticated
//     UPDATE_SA_ADDRESSES moves the IKE SA and rebinds its children (same SPIs, no rekey).
//     With MOBIKE in use only UPDATE_SA_ADDRESSES changes the peer's address (§3.5).
//
//   - Traffic selectors (ts.go): several per child, ranges and ports, the responder's
//     narrowing (§2.9), TS_UNACCEPTABLE; a range that is not a prefix becomes several
//     data-plane selectors.
//
//   - Keys (keys.go): SKEYSEED and SK_* (§2.14), the rekeyed SKEYSEED (§2.18), child KEYMAT
//     (§2.17), the octets AUTH covers (§2.15), over crypto.PRF.Plus (prf+, §2.13). Every IKE
//     SA's SK_e/SK_a go to the key log (keylog.go, OAKLEY_KEYLOG) when derived, after a rekey
//     too; the core logs the children's ESP keys.
//
//   - The configuration payload of remote access (cp.go, §2.19, §3.15): a client with vips
//     sends CFG_REQUEST and gives the CFG_REPLY (addresses, DNS, split networks) to the core;
//     a gateway with pools leases addresses (core pools), answers CFG_REPLY or
//     INTERNAL_ADDRESS_FAILURE, and narrows the client's TSi to the lease; each client's
//     pairs get their own SPD entry (core, ra.go), so one connection serves many clients.
//
//   - EAP in IKE_AUTH (eap.go, §2.16) with EAP-MSCHAPv2 (mschapv2.go, RFC 2759 and the MSK of
//     RFC 3079): a client (eap, no pools) leaves AUTH out, verifies the gateway's
//     certificate, logs in with eap_id and its password and authenticates with the MSK; a
//     gateway (eap and pools) proves itself with its certificate, checks the client against
//     [[user]], and leases the virtual IP for the EAP identity. Or with EAP-TLS (eaptls.go,
//     RFC 5216, RFC 9190 with TLS 1.3; crypto/tls stepped over a pipe, eaptls_conn.go;
//     framing in eaptls_frag.go): the client's certificate inside TLS, verified by the
//     gateway with cacerts and CRLs and bound to the EAP identity; the MSK is TLS's exporter.
//
// Not yet: MOBIKE's ADDITIONAL_*_ADDRESS lists and return routability checks (mobike.go
// says why), CFG_SET/CFG_ACK.
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

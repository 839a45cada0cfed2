// Package core is the protocol-neutral part of oakley's IKE engine: what IKEv1 (ike/ikev1)
// and IKEv2 (ike/ikev2) share. It owns
//
//   - the configured connections and their children (Conn, ChildState): bringing them up on
//     start_action, acquires and commands, retries with backoff, waiters of Initiate;
//   - child SA pairs (ChildSA): their installation into the data plane through the esp seam
//     (Install, Bind, Retire), lifetimes by time, bytes and packets, the switch of outbound
//     traffic on a rekey, deletion;
//   - the timer heap, the outbox, randomness and the clock of the event being handled;
//   - the half-open table that bounds what unauthenticated first messages can make us keep;
//   - the retransmission schedule and reply caches;
//   - dead peer detection (the decision; each version sends its own liveness check);
//   - status and counters.
//
// A Protocol (one per IKE major version) owns its IKE SAs and their messages; the core
// dispatches every datagram on the version in its header. What the core needs from an IKE SA
// of either version is the IKESA interface.
//
// # Concurrency
//
// A Core is not safe for concurrent use: one goroutine (ike.Engine's Run loop, or a test
// driving it in lockstep) owns it, its connections, children, SAs and timers. Counters is
// the exception: atomic, readable from anywhere.
package core

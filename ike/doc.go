// Package ike is oakley's IKE engine: the Engine that the daemon drives, over the
// protocol-neutral core (ike/core) and the protocol state machines, IKEv1 (ike/ikev1, over
// the ike/isakmp codec) and IKEv2 (ike/ikev2, over the ike/ikev2/wire codec).
//
// # Shape
//
// The engine owns no socket and no clock. The daemon hands it every IKE datagram
// (HandleMessage, from the data plane's OnIKE callback); data-plane events (lifetime limits,
// the first use of a new SA, acquires) arrive on their own path (EventSource, the data
// plane's Wake/TakeEvents), which network input cannot crowd out. The engine answers through
// the core's Dataplane interface (SendIKE, Install, Bind, Retire, ...). Randomness comes from
// Config.Rand and wall-clock time from Config.Now, so two engines joined in memory run whole
// exchanges deterministically.
//
// # Concurrency
//
// Run is the only goroutine that touches protocol state: a select over the inbox, the
// data-plane events, the next timer deadline, commands and ctx. HandleMessage copies its
// input and enqueues it without blocking (a full inbox drops and counts). Initiate,
// Terminate, Rekey and Status send a request to Run and wait for its answer, so they are
// safe for concurrent use but need Run to be running. Counters reads atomic counters and is
// safe at any time.
package ike

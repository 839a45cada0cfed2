// Package wire is the wire format of IKEv2 (RFC 7296 §3): it turns IKEv2 messages into typed
// structs and back, strictly, and protects their content with the SK payload (RFC 7296 §3.14,
// RFC 5282, RFC 7634) and the fragments of RFC 7383. The IKEv2 state machines are built on it;
// it imports only the standard library and oakley/crypto (algorithm registry and ciphers).
//
// What it does:
//   - DecodeHeader reads and checks the 28-byte header (any datagram, to find the IKE SA);
//     DecodeMessage decodes a whole message: header Length equal to the datagram and at most
//     MaxMessageLen, every generic payload header, every payload of RFC 7296 (SA > proposals >
//     transforms > attributes with the last-substructure values and numbering, KE, IDi/IDr,
//     CERT, CERTREQ, AUTH incl. RFC 7427 signatures, Nonce, Notify, Delete, Vendor ID, TSi/TSr,
//     SK, CP, EAP, SKF), counts and lengths at every level, trailing bytes rejected. Unknown
//     payloads are kept as *Unknown, or fail with ErrUnsupportedCritical (and their type) when
//     critical. Decoders never panic and allocate in proportion to the bytes received; every
//     error is an *Error wrapping a sentinel (errors.go) that says which payload and offset
//     failed, and ErrorNotify maps it onto the notification to answer with.
//   - Decoded payloads keep the exact bytes they came from (Raw, Body), because IKEv2 signs
//     them: Message.Raw of IKE_SA_INIT is the RealMessage of AUTH, Identification.
//     RestOfIDPayload the RestOfInitIDPayload / RestOfRespIDPayload (§2.15). A decoder's input
//     is copied once; nothing aliases it.
//   - EncodeMessage / EncodePayloads build messages with every Next Payload, length and count
//     computed, deterministically; a decoded message re-encodes to the same bytes when its
//     RESERVED fields were zero (the receiver "MUST ignore" them, so decoding drops them).
//   - SKCipher seals and opens the SK payload content for the ENCR transforms of oakley/crypto;
//     EncodeEncrypted / DecodeEncrypted produce and consume whole protected messages with the
//     header and SK header authenticated (RFC 5282 §5.1); EncodeFragments splits a message into
//     SKF fragments for a datagram size, DecodeFragment verifies one, and a Reassembler rebuilds
//     the message within limits, with an injected clock and counters.
//   - Constants and names for exchange types, payload types, protocol and transform types,
//     ID types, certificate encodings, auth methods, notify types (errors and status of RFC
//     7296, 4555, 4739, 5685, 5723, 6311, 7383, 7427, 8784, 9242, 9370 and others), TS types,
//     CP types and attributes; helpers between traffic selectors and net/netip prefixes and
//     ranges; NAT detection hashes; TransformFor / Transform.Algorithm to and from the registry.
//
// What it does not do (the engine's job): which exchanges, payloads and notifications a message
// may carry and in which order; message IDs, windows and retransmission; proposal selection and
// the semantic rules of a proposal (which transform types a protocol needs); KE data length
// versus the group and public value validation; nonce length versus the PRF; AUTH computation
// and verification, certificate and ID policy (RFC 4945); key derivation (oakley/crypto's
// PRF+); TS narrowing; whether to fragment and which Message IDs a Reassembler may see; the
// 4-byte non-ESP marker of port 4500 (the socket loop strips it, RFC 3948 §2.2); IKEv1.
//
// Concurrency: the payload, message and error types are plain data, safe for concurrent reads
// and not for concurrent mutation. The functions keep no state and are safe for concurrent use.
// SKCipher's Seal and Open are safe for concurrent use (Close is not, against them); a
// Reassembler is safe for concurrent use.
//
// Secrets: keys live only inside an SKCipher (copied, wiped by Close); no error or String
// method ever prints key material, decrypted content or COOKIE data.
package wire

// Package isakmp is the wire format of IKEv1: it turns ISAKMP messages into typed structs
// and back, strictly, as RFC 2408 (ISAKMP), RFC 2407 (the IPsec DOI), RFC 2409 (IKE),
// RFC 3947 (NAT-T), RFC 3706 (DPD) and the IKEv1 fragmentation and Mode Config extensions
// define them.
//
// What it does:
//   - DecodeMessage decodes a datagram into a Header and either the payload chain
//     (plaintext) or the encrypted body (E flag). DecodePayloads decodes a bare chain, such
//     as a decrypted body, optionally tolerating the encryption padding after it.
//   - Every length is checked at every level (header, generic payload header, SA >
//     Proposal > Transform > attributes, SPI sizes, counts), RESERVED fields must be zero,
//     and trailing bytes are an error. Decoders never panic and allocate only in proportion
//     to the bytes received. Errors are *Error values wrapping a few sentinels (ErrTruncated,
//     ErrMalformed, ErrTrailingData, ErrInvalidMajorVersion, ErrUnequalPayloadLengths, ...)
//     and say which payload and offset failed.
//   - Decoded payloads keep the exact bytes they came from (Payload.Raw and Payload.Body),
//     because IKE hashes them (SAi_b, IDii_b; Quick Mode HASH(1) over the rest of the
//     message, RFC 2409 §5, §5.5). A decoder's input is copied once; nothing aliases it.
//   - EncodeMessage, EncodePayloads and EncodeEncrypted build messages: Next Payload
//     chaining and all lengths and counts are computed, encoding is deterministic, and the
//     returned Chain gives the byte range of every payload so the caller hashes exactly
//     what goes on the wire. Any accepted input re-encodes to the same bytes.
//   - Constants for exchange types, payload types, notify types, ID types, protocol IDs,
//     DOI and situation, Phase 1 attribute classes and IPsec DOI attributes with their
//     values, and net/netip helpers for address-based IDs.
//
// What it does not do: cryptography (encryption, padding, hashes and the IV chain are the
// state machine's, in package oakley/ike), exchange logic (which payloads an exchange needs,
// which exchange types, proposals and notifications are acceptable), fragment reassembly,
// the semantic checks of IKE (nonce lengths, DH value ranges, ID contents at decode time),
// the labelled-domain Situation of RFC 2407 §4.6.1 (rejected), DOIs other than IPsec in SA
// payloads (rejected), IKEv2, and the 4-byte non-ESP marker of port 4500 (the socket loop
// strips it, RFC 3948 §2.2). Algorithm numbers (encryption, hash, group, ESP and AH
// transform IDs) are package oakley/crypto's.
//
// Concurrency: the exported types are plain data, safe for concurrent reads and not for
// concurrent mutation. The functions keep no state and are safe for concurrent use.
package isakmp

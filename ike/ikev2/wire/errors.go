package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error a decoder, encoder, SKCipher or Reassembler returns is an
// *Error wrapping one or more of these, so callers test with errors.Is and read the details
// (payload type, offset) with errors.As. ErrorNotify maps them onto the notification the
// engine answers with (RFC 7296 §2.21, §3.10.1).
var (
	// ErrTruncated: the input ended before a length field said it would (includes every
	// strict prefix of a valid message).
	ErrTruncated = errors.New("ikev2/wire: truncated")
	// ErrMalformed: a length, count or field inside the input disagrees with the bytes or
	// holds a value the format forbids (-> INVALID_SYNTAX once the message is authenticated).
	ErrMalformed = errors.New("ikev2/wire: malformed")
	// ErrTrailingData: bytes follow the last payload (of the message, of an SA, proposal or
	// transform, of a substructure list) where none are allowed.
	ErrTrailingData = errors.New("ikev2/wire: trailing data")
	// ErrLength: the IKE header's Length differs from the datagram (RFC 7296 §3.1); joined
	// with ErrTruncated, ErrTrailingData or ErrMalformed.
	ErrLength = errors.New("ikev2/wire: header length differs from the message")
	// ErrTooLarge: a message longer than MaxMessageLen, or a reassembly beyond its limits.
	ErrTooLarge = errors.New("ikev2/wire: message too large")
	// ErrInvalidMajorVersion: the header's major version is above 2 (RFC 7296 §2.5: drop
	// it and answer INVALID_MAJOR_VERSION, unauthenticated, naming version 2).
	ErrInvalidMajorVersion = errors.New("ikev2/wire: invalid major version")
	// ErrNotIKEv2: the header's major version is below 2 (IKEv1 or garbage): not ours to
	// answer; the dispatcher hands major 1 to the IKEv1 code before calling this package.
	ErrNotIKEv2 = errors.New("ikev2/wire: not an IKEv2 message")
	// ErrUnsupportedCritical: a payload of a type this package does not know has the
	// critical bit set (RFC 7296 §2.5, §3.2); Error.Payload is that type, the one octet of
	// the UNSUPPORTED_CRITICAL_PAYLOAD notification's data.
	ErrUnsupportedCritical = errors.New("ikev2/wire: unsupported critical payload")
	// ErrIntegrity: the ICV of an SK or SKF payload did not verify (RFC 7296 §3.14): the
	// message must be dropped silently (counted, never answered).
	ErrIntegrity = errors.New("ikev2/wire: integrity check failed")
	// ErrNotEncrypted: DecodeEncrypted or DecodeFragment got a message whose last payload is
	// not the expected SK or SKF payload; ErrFragment when it is an SKF payload given to
	// DecodeEncrypted (use DecodeFragment and a Reassembler).
	ErrNotEncrypted = errors.New("ikev2/wire: no encrypted payload")
	ErrFragment     = errors.New("ikev2/wire: message is an encrypted fragment")
	// ErrFragmentRefused: a Reassembler refused a fragment (limits, inconsistent headers,
	// a stale total); the message keeps its own more specific Reason and counter.
	ErrFragmentRefused = errors.New("ikev2/wire: fragment refused")
	// ErrCipher: an SKCipher cannot be built (algorithm or key size) or cannot seal any
	// more messages (its IV space is exhausted).
	ErrCipher = errors.New("ikev2/wire: SK cipher")
	// ErrEncode: a struct handed to an encoder cannot be put on the wire (a field does not
	// fit its size, counts disagree, an unsupported value).
	ErrEncode = errors.New("ikev2/wire: cannot encode")
)

// Error describes where a message failed to decode, encode, decrypt or reassemble. It wraps
// one or more of the sentinel errors above. It never contains key material: at most lengths,
// type numbers and offsets.
//
// Error values are immutable after creation and safe for concurrent use.
type Error struct {
	// Payload is the innermost payload being processed; PayloadNone means the IKE header or
	// the message as a whole. For ErrUnsupportedCritical it is the unsupported type.
	Payload PayloadType
	// Offset is the byte offset of the problem in the input, -1 when the error is not tied
	// to an input offset (encoders, SKCipher, Reassembler).
	Offset int
	// Inner reports that Offset counts in the decrypted content of the SK payload (or of the
	// reassembled SKF fragments), not in the datagram.
	Inner bool
	// Reason says what is wrong, in the RFC's words where possible.
	Reason string

	errs []error
}

func (e *Error) Error() string {
	where := "message"
	if e.Payload != PayloadNone {
		where = e.Payload.String() + " payload"
	}
	if e.Inner {
		where = "encrypted " + where
	}
	if e.Offset < 0 {
		return fmt.Sprintf("ikev2/wire: %s: %s", where, e.Reason)
	}
	return fmt.Sprintf("ikev2/wire: %s at offset %d: %s", where, e.Offset, e.Reason)
}

// Unwrap returns the sentinel errors e wraps, for errors.Is.
func (e *Error) Unwrap() []error { return e.errs }

// errAt builds a decode error at an input offset.
func errAt(pt PayloadType, off int, sentinel error, format string, args ...any) *Error {
	return &Error{Payload: pt, Offset: off, Reason: fmt.Sprintf(format, args...), errs: []error{sentinel}}
}

// errNoOff builds an error that has no input offset.
func errNoOff(pt PayloadType, sentinel error, format string, args ...any) *Error {
	return &Error{Payload: pt, Offset: -1, Reason: fmt.Sprintf(format, args...), errs: []error{sentinel}}
}

// errEnc builds an encode error.
func errEnc(pt PayloadType, format string, args ...any) *Error {
	return errNoOff(pt, ErrEncode, format, args...)
}

// ErrorNotify says which notification (RFC 7296 §3.10.1) answers a decode error, and its
// Notification Data:
//
//   - ErrInvalidMajorVersion: INVALID_MAJOR_VERSION (sent unprotected, in a response whose
//     header carries version 2.0, RFC 7296 §2.5);
//   - ErrUnsupportedCritical: UNSUPPORTED_CRITICAL_PAYLOAD with the one-octet payload type;
//   - ErrTruncated, ErrMalformed, ErrTrailingData, ErrLength: INVALID_SYNTAX, which RFC 7296
//     §2.21 only allows in answer to a message that passed its integrity check (a broken
//     unprotected message is dropped);
//
// ok is false for everything else (ErrIntegrity, ErrNotIKEv2, ErrTooLarge, ErrNotEncrypted,
// fragments, ciphers, encoders): those messages are dropped and counted, never answered.
func ErrorNotify(err error) (typ NotifyType, data []byte, ok bool) {
	switch {
	case errors.Is(err, ErrIntegrity), errors.Is(err, ErrNotIKEv2), errors.Is(err, ErrTooLarge),
		errors.Is(err, ErrFragmentRefused), errors.Is(err, ErrCipher), errors.Is(err, ErrEncode),
		errors.Is(err, ErrNotEncrypted), errors.Is(err, ErrFragment):
		return 0, nil, false
	case errors.Is(err, ErrInvalidMajorVersion):
		return NotifyInvalidMajorVersion, nil, true
	case errors.Is(err, ErrUnsupportedCritical):
		var e *Error
		if errors.As(err, &e) {
			return NotifyUnsupportedCriticalPayload, []byte{byte(e.Payload)}, true
		}
		return 0, nil, false
	case errors.Is(err, ErrTruncated), errors.Is(err, ErrMalformed), errors.Is(err, ErrTrailingData),
		errors.Is(err, ErrLength):
		return NotifyInvalidSyntax, nil, true
	}
	return 0, nil, false
}

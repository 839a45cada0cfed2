package isakmp

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by a decoder is an *Error that wraps one or more
// of these, so callers test with errors.Is. They map onto the ISAKMP notify message types
// the state machine answers with (RFC 2408 §3.14.1, §5): ErrInvalidMajorVersion ->
// INVALID-MAJOR-VERSION, ErrUnequalPayloadLengths -> UNEQUAL-PAYLOAD-LENGTHS, the rest
// mostly -> PAYLOAD-MALFORMED (or BAD-PROPOSAL-SYNTAX when Error.Payload is an SA,
// Proposal or Transform).
var (
	// ErrTruncated: the input ended before a length field said it would (includes every
	// strict prefix of a valid message).
	ErrTruncated = errors.New("isakmp: truncated")
	// ErrMalformed: a length or count inside the input disagrees with the bytes, a
	// RESERVED field is not zero, or a field holds a value the format forbids.
	ErrMalformed = errors.New("isakmp: malformed")
	// ErrTrailingData: bytes follow the last payload (of the message or of an SA,
	// proposal or transform) where none are allowed.
	ErrTrailingData = errors.New("isakmp: trailing data")
	// ErrInvalidMajorVersion: the header's major version is not 1 (RFC 2408 §5.2).
	// IKEv2 messages (major 2) arriving on the same port fail with this error.
	ErrInvalidMajorVersion = errors.New("isakmp: invalid major version")
	// ErrInvalidMinorVersion: the header's minor version is not 0 (RFC 2408 §5.2).
	ErrInvalidMinorVersion = errors.New("isakmp: invalid minor version")
	// ErrInvalidFlags: the header's flags have bits other than E, C and A set (RFC 2408 §5.2).
	ErrInvalidFlags = errors.New("isakmp: invalid flags")
	// ErrUnequalPayloadLengths: the header's Length differs from the datagram length
	// (RFC 2408 §5.1). It is joined with ErrTruncated or ErrTrailingData.
	ErrUnequalPayloadLengths = errors.New("isakmp: unequal payload lengths")
	// ErrInvalidPayloadType: a Proposal or Transform payload outside an SA payload, or
	// another payload type where a Proposal or Transform must be.
	ErrInvalidPayloadType = errors.New("isakmp: invalid payload type")
	// ErrDOINotSupported: an SA payload for a DOI other than IPsec (RFC 2407), whose
	// Situation layout this package cannot know.
	ErrDOINotSupported = errors.New("isakmp: DOI not supported")
	// ErrSituationNotSupported: an SA payload whose IPsec Situation has SIT_SECRECY or
	// SIT_INTEGRITY set (labelled domains, RFC 2407 §4.6.1), which this package does not parse.
	ErrSituationNotSupported = errors.New("isakmp: situation not supported")
	// ErrInvalidID: identification data that does not fit its ID type (RFC 2407 §4.6.2),
	// returned by the net/netip helpers of Identification (-> INVALID-ID-INFORMATION).
	ErrInvalidID = errors.New("isakmp: invalid identification data")
	// ErrEncode: a struct handed to an encoder cannot be put on the wire (a field does
	// not fit its size, counts disagree, an unsupported value).
	ErrEncode = errors.New("isakmp: cannot encode")
)

// Error describes where a message failed to decode or encode. It wraps one or more of the
// sentinel errors above.
//
// Error values are immutable after creation and safe for concurrent use.
type Error struct {
	// Payload is the innermost payload being processed; PayloadNone means the ISAKMP
	// header or the message (or chain) as a whole.
	Payload PayloadType
	// Offset is the byte offset of the problem in the input: the datagram for
	// DecodeMessage, the payload chain for DecodePayloads; -1 when the error is not tied
	// to an input offset (encoders, accessors such as Attribute.Uint).
	Offset int
	// Reason says what is wrong, in the RFC's words where possible.
	Reason string

	errs []error
}

func (e *Error) Error() string {
	where := "message"
	if e.Payload != PayloadNone {
		where = e.Payload.String() + " payload"
	}
	if e.Offset < 0 {
		return fmt.Sprintf("isakmp: %s: %s", where, e.Reason)
	}
	return fmt.Sprintf("isakmp: %s at offset %d: %s", where, e.Offset, e.Reason)
}

// Unwrap returns the sentinel errors e wraps, for errors.Is.
func (e *Error) Unwrap() []error { return e.errs }

// errAt builds a decode error.
func errAt(pt PayloadType, off int, sentinel error, format string, args ...any) *Error {
	return &Error{Payload: pt, Offset: off, Reason: fmt.Sprintf(format, args...), errs: []error{sentinel}}
}

// errNoOff builds an error that has no input offset.
func errNoOff(pt PayloadType, sentinel error, format string, args ...any) *Error {
	return &Error{Payload: pt, Offset: -1, Reason: fmt.Sprintf(format, args...), errs: []error{sentinel}}
}

// errEnc builds an encode error.
func errEnc(pt PayloadType, format string, args ...any) *Error {
	return &Error{Payload: pt, Offset: -1, Reason: fmt.Sprintf(format, args...), errs: []error{ErrEncode}}
}

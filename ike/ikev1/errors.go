package ike

import (
	"errors"
	"fmt"

	"oakley/ike/isakmp"
)

// Sentinel errors: the outcomes callers (and tests) tell apart with errors.Is. Every error
// the engine logs or returns wraps one of them; none carries key material.
var (
	// ErrNoProposalChosen: the peer offered nothing our configuration accepts, or chose
	// something we did not offer (RFC 2408 §3.14.1 NO-PROPOSAL-CHOSEN).
	ErrNoProposalChosen = errors.New("ike: no proposal chosen")
	// ErrAuthenticationFailed: HASH_I/HASH_R did not verify, or a message of the peer
	// could not be decrypted after keys were derived (the usual sign of differing
	// pre-shared keys) (AUTHENTICATION-FAILED).
	ErrAuthenticationFailed = errors.New("ike: authentication failed")
	// ErrInvalidID: an identity or traffic selector we do not accept
	// (INVALID-ID-INFORMATION).
	ErrInvalidID = errors.New("ike: invalid ID information")
	// ErrMalformed: a message that does not decode or lacks a payload the exchange needs
	// (PAYLOAD-MALFORMED, INVALID-PAYLOAD-TYPE).
	ErrMalformed = errors.New("ike: malformed message")
	// ErrInvalidKE: a Diffie-Hellman public value that fails the RFC 6989 checks
	// (INVALID-KEY-INFORMATION).
	ErrInvalidKE = errors.New("ike: invalid key exchange")
	// ErrInvalidHash: a Phase 2 HASH that does not verify (INVALID-HASH-INFORMATION).
	ErrInvalidHash = errors.New("ike: invalid hash")
	// ErrUnexpected: a message the current state does not expect.
	ErrUnexpected = errors.New("ike: unexpected message")
	// ErrTimeout: the peer did not answer after every retransmission.
	ErrTimeout = errors.New("ike: peer did not answer")
	// ErrPeerNotify: the peer answered with an error notification.
	ErrPeerNotify = errors.New("ike: peer reported an error")
	// ErrUnknownConnection / ErrUnknownChild: a name the configuration does not know.
	ErrUnknownConnection = errors.New("ike: unknown connection")
	ErrUnknownChild      = errors.New("ike: unknown child")
	// ErrNotRunning: a request to an engine whose Run loop is not running.
	ErrNotRunning = errors.New("ike: engine not running")
	// ErrConfig: a connection New refuses.
	ErrConfig = errors.New("ike: invalid configuration")
	// ErrDeleted: the SA a request waited for was deleted (Terminate, peer Delete, DPD).
	ErrDeleted = errors.New("ike: SA deleted")
	// ErrInstall: the data plane refused an SA.
	ErrInstall = errors.New("ike: installing SA failed")
)

// protoError is a protocol failure: the error to log and the notification to send to the
// peer (0 for none).
type protoError struct {
	notify isakmp.NotifyType
	err    error
}

func (e *protoError) Error() string { return e.err.Error() }
func (e *protoError) Unwrap() error { return e.err }

// fail builds a protoError wrapping sentinel with a formatted reason.
func fail(notify isakmp.NotifyType, sentinel error, format string, args ...any) *protoError {
	return &protoError{notify: notify, err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}

// notifyFor returns the notification to send for err, if any.
func notifyFor(err error) isakmp.NotifyType {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.notify
	}
	return 0
}

// malformed wraps a decode error as PAYLOAD-MALFORMED (or the notification RFC 2408 §5
// names for the sentinel).
func malformed(what string, err error) *protoError {
	n := isakmp.NotifyPayloadMalformed
	switch {
	case errors.Is(err, isakmp.ErrInvalidPayloadType):
		n = isakmp.NotifyInvalidPayloadType
	case errors.Is(err, isakmp.ErrDOINotSupported):
		n = isakmp.NotifyDOINotSupported
	case errors.Is(err, isakmp.ErrSituationNotSupported):
		n = isakmp.NotifySituationNotSupported
	case errors.Is(err, isakmp.ErrUnequalPayloadLengths):
		n = isakmp.NotifyUnequalPayloadLengths
	}
	return &protoError{notify: n, err: fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)}
}

package ikev1

import (
	"errors"
	"fmt"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// The sentinels are the core's (errors.Is works across versions).
var (
	ErrNoProposalChosen     = core.ErrNoProposalChosen
	ErrAuthenticationFailed = core.ErrAuthenticationFailed
	ErrInvalidID            = core.ErrInvalidID
	ErrMalformed            = core.ErrMalformed
	ErrInvalidKE            = core.ErrInvalidKE
	ErrInvalidHash          = core.ErrInvalidHash
	ErrUnexpected           = core.ErrUnexpected
	ErrTimeout              = core.ErrTimeout
	ErrPeerNotify           = core.ErrPeerNotify
	ErrConfig               = core.ErrConfig
	ErrDeleted              = core.ErrDeleted
	ErrInstall              = core.ErrInstall
	ErrNotRunning           = core.ErrNotRunning
	ErrForgotten            = core.ErrForgotten
	errStop                 = core.ErrStop
	errExpired              = core.ErrExpired
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

package ikev2

import (
	"errors"
	"fmt"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// The sentinels are the core's (errors.Is works across versions).
var (
	ErrNoProposalChosen     = core.ErrNoProposalChosen
	ErrAuthenticationFailed = core.ErrAuthenticationFailed
	ErrInvalidID            = core.ErrInvalidID
	ErrMalformed            = core.ErrMalformed
	ErrInvalidKE            = core.ErrInvalidKE
	ErrUnexpected           = core.ErrUnexpected
	ErrTimeout              = core.ErrTimeout
	ErrPeerNotify           = core.ErrPeerNotify
	ErrConfig               = core.ErrConfig
	ErrDeleted              = core.ErrDeleted
	ErrInstall              = core.ErrInstall
	ErrExpired              = core.ErrExpired
	errStop                 = core.ErrStop
)

// ErrTemporary is a refusal the peer may retry later (TEMPORARY_FAILURE, RFC 7296 §2.25).
var ErrTemporary = errors.New("ikev2: temporary failure")

// protoError is a protocol failure: the error to log and the notification that tells the
// peer (0 for none), with its data.
type protoError struct {
	notify wire.NotifyType
	data   []byte
	err    error
}

func (e *protoError) Error() string { return e.err.Error() }
func (e *protoError) Unwrap() error { return e.err }

// fail builds a protoError wrapping sentinel with a formatted reason.
func fail(notify wire.NotifyType, sentinel error, format string, args ...any) *protoError {
	return &protoError{notify: notify, err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}

// notifyOf returns the notification that answers err, if any.
func notifyOf(err error) (wire.NotifyType, []byte) {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.notify, pe.data
	}
	return 0, nil
}

// malformed wraps a decode error of an authenticated message: INVALID_SYNTAX (RFC 7296
// §2.21), or what wire.ErrorNotify names.
func malformed(what string, err error) *protoError {
	n, data, ok := wire.ErrorNotify(err)
	if !ok {
		n = wire.NotifyInvalidSyntax
	}
	return &protoError{notify: n, data: data, err: fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)}
}

// peerError turns an error notification the peer sent into an error (with a hint for the
// ones that usually mean a configuration mismatch).
func peerError(n *wire.Notify) error {
	hint := ""
	switch n.NotifyType {
	case wire.NotifyAuthenticationFailed:
		return fmt.Errorf("%w: peer sent AUTHENTICATION_FAILED (pre-shared keys, identities or certificates do not match)", ErrAuthenticationFailed)
	case wire.NotifyNoProposalChosen:
		return fmt.Errorf("%w: peer sent NO_PROPOSAL_CHOSEN (no proposal in common)", ErrNoProposalChosen)
	case wire.NotifyTSUnacceptable:
		return fmt.Errorf("%w: peer sent TS_UNACCEPTABLE (traffic selectors do not fit its configuration)", ErrInvalidID)
	case wire.NotifyTemporaryFailure:
		return fmt.Errorf("%w: peer sent TEMPORARY_FAILURE", ErrTemporary)
	case wire.NotifyInvalidSyntax:
		hint = " (it could not parse our message)"
	case wire.NotifyInternalAddressFailure, wire.NotifyFailedCPRequired:
		hint = " (virtual IP assignment failed)"
	}
	return fmt.Errorf("%w: peer sent %s%s", ErrPeerNotify, n.NotifyType, hint)
}

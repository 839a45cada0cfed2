package core

import "errors"

// Sentinel errors: the outcomes callers (and tests) tell apart with errors.Is. Every error
// the engine logs or returns wraps one of them; none carries key material.
var (
	// ErrNoProposalChosen: the peer offered nothing our configuration accepts, or chose
	// something we did not offer (NO-PROPOSAL-CHOSEN).
	ErrNoProposalChosen = errors.New("ike: no proposal chosen")
	// ErrAuthenticationFailed: the peer's proof of identity did not verify, or a message
	// could not be decrypted after keys were derived (AUTHENTICATION-FAILED).
	ErrAuthenticationFailed = errors.New("ike: authentication failed")
	// ErrInvalidID: an identity or traffic selector we do not accept (INVALID-ID-INFORMATION,
	// TS_UNACCEPTABLE).
	ErrInvalidID = errors.New("ike: invalid ID information")
	// ErrMalformed: a message that does not decode or lacks a payload the exchange needs.
	ErrMalformed = errors.New("ike: malformed message")
	// ErrInvalidKE: a Diffie-Hellman public value that fails the RFC 6989 checks.
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
	// ErrExpired: an SA reached the end of its lifetime.
	ErrExpired = errors.New("ike: SA lifetime expired")
	// ErrForgotten: a responder no longer knows the exchange (its half-open state expired
	// or was evicted under load); distinct from an authentication failure, so the
	// initiator does not blame the credentials.
	ErrForgotten = errors.New("ike: responder forgot the exchange")
)

// ErrStop marks an error that was already handled (logged, counted, the SA ended).
var ErrStop = errors.New("ike: stop")

// CountError bumps the counter that matches an error.
func (c *Core) CountError(err error) {
	switch {
	case errors.Is(err, ErrNoProposalChosen):
		c.Ctr.Inc(CtrNoProposal)
	case errors.Is(err, ErrAuthenticationFailed):
		c.Ctr.Inc(CtrAuthFailures)
	case errors.Is(err, ErrInvalidID):
		c.Ctr.Inc(CtrInvalidID)
	case errors.Is(err, ErrInvalidKE):
		c.Ctr.Inc(CtrInvalidKE)
	case errors.Is(err, ErrInvalidHash):
		c.Ctr.Inc(CtrInvalidHash)
	case errors.Is(err, ErrMalformed):
		c.Ctr.Inc(CtrMalformed)
	case errors.Is(err, ErrUnexpected):
		c.Ctr.Inc(CtrUnexpected)
	}
}

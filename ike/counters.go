package ike

import "sync/atomic"

// Counter names, as Counters reports them. Every bad input increments one of them.
const (
	cMessagesIn          = "messages_in"
	cMessagesOut         = "messages_out"
	cRetransmits         = "retransmits"
	cRetransmitGiveUps   = "retransmit_give_ups"
	cDuplicates          = "duplicates"
	cMalformed           = "malformed"
	cDecryptFailures     = "decrypt_failures"
	cAuthFailures        = "auth_failures"
	cNoProposal          = "no_proposal"
	cInvalidID           = "invalid_id"
	cInvalidKE           = "invalid_ke"
	cInvalidHash         = "invalid_hash"
	cInvalidCookie       = "invalid_cookie"
	cInvalidExchange     = "invalid_exchange"
	cUnexpected          = "unexpected"
	cHalfOpenDrops       = "half_open_drops"
	cHalfOpenExpired     = "half_open_expired"
	cAmplificationDrops  = "amplification_drops"
	cHalfOpenEvicted     = "half_open_evicted"
	cInboxFull           = "inbox_full"
	cSendErrors          = "send_errors"
	cNotifiesIn          = "notifies_in"
	cErrorNotifiesIn     = "error_notifies_in"
	cErrorNotifiesOut    = "error_notifies_out"
	cDeletesIn           = "deletes_in"
	cDeletesOut          = "deletes_out"
	cDPDRequestsOut      = "dpd_requests_out"
	cDPDRequestsIn       = "dpd_requests_in"
	cDPDTimeouts         = "dpd_timeouts"
	cKeepalives          = "keepalives"
	cIKEEstablished      = "ike_established"
	cIKEFailed           = "ike_failed"
	cChildEstablished    = "child_established"
	cChildFailed         = "child_failed"
	cChildRekeys         = "child_rekeys"
	cIKEReauths          = "ike_reauths"
	cInstallFailures     = "install_failures"
	cUnprotectedDropped  = "unprotected_dropped"
	cUnsupportedExchange = "unsupported_exchange"
	gHalfOpen            = "half_open" // a gauge: half-open responder ISAKMP SAs right now
)

var counterNames = []string{
	cMessagesIn, cMessagesOut, cRetransmits, cRetransmitGiveUps, cDuplicates, cMalformed,
	cDecryptFailures, cAuthFailures, cNoProposal, cInvalidID, cInvalidKE, cInvalidHash,
	cInvalidCookie, cInvalidExchange, cUnexpected, cHalfOpenDrops, cHalfOpenExpired,
	cAmplificationDrops, cHalfOpenEvicted, cInboxFull, cSendErrors, cNotifiesIn, cErrorNotifiesIn,
	cErrorNotifiesOut, cDeletesIn, cDeletesOut, cDPDRequestsOut, cDPDRequestsIn,
	cDPDTimeouts, cKeepalives, cIKEEstablished, cIKEFailed, cChildEstablished,
	cChildFailed, cChildRekeys, cIKEReauths, cInstallFailures, cUnprotectedDropped,
	cUnsupportedExchange, gHalfOpen,
}

// counters is a fixed set of atomic counters: written by the Run goroutine (and
// HandleMessage for inbox drops), read by anyone. Safe for concurrent use.
type counters struct {
	m map[string]*atomic.Uint64
}

func newCounters() *counters {
	c := &counters{m: make(map[string]*atomic.Uint64, len(counterNames))}
	for _, n := range counterNames {
		c.m[n] = new(atomic.Uint64)
	}
	return c
}

func (c *counters) inc(name string) {
	if v, ok := c.m[name]; ok {
		v.Add(1)
	}
}

// set stores a gauge's current value.
func (c *counters) set(name string, v uint64) {
	if g, ok := c.m[name]; ok {
		g.Store(v)
	}
}

func (c *counters) get(name string) uint64 {
	if v, ok := c.m[name]; ok {
		return v.Load()
	}
	return 0
}

func (c *counters) snapshot() map[string]uint64 {
	out := make(map[string]uint64, len(c.m))
	for k, v := range c.m {
		out[k] = v.Load()
	}
	return out
}

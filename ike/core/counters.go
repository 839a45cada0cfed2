package core

import "sync/atomic"

// Counter names, as Counters reports them. Every bad input increments one of them; every
// bounded table counts what it refused.
const (
	CtrMessagesIn          = "messages_in"
	CtrMessagesOut         = "messages_out"
	CtrRetransmits         = "retransmits"
	CtrRetransmitGiveUps   = "retransmit_give_ups"
	CtrDuplicates          = "duplicates"
	CtrMalformed           = "malformed"
	CtrDecryptFailures     = "decrypt_failures"
	CtrAuthFailures        = "auth_failures"
	CtrNoProposal          = "no_proposal"
	CtrInvalidID           = "invalid_id"
	CtrInvalidKE           = "invalid_ke"
	CtrInvalidHash         = "invalid_hash"
	CtrInvalidCookie       = "invalid_cookie" // IKEv1 cookies / IKEv2 SPIs nobody knows
	CtrInvalidExchange     = "invalid_exchange"
	CtrInvalidVersion      = "invalid_version" // a major version no protocol handles
	CtrUnexpected          = "unexpected"
	CtrHalfOpenDrops       = "half_open_drops"   // refused: the per-source cap
	CtrHalfOpenExpired     = "half_open_expired" // half-open SAs that timed out
	CtrHalfOpenEvicted     = "half_open_evicted" // pushed out of a full table by newer ones
	CtrAmplificationDrops  = "amplification_drops"
	CtrInboxFull           = "inbox_full"
	CtrSendErrors          = "send_errors"
	CtrNotifiesIn          = "notifies_in"
	CtrErrorNotifiesIn     = "error_notifies_in"
	CtrErrorNotifiesOut    = "error_notifies_out"
	CtrDeletesIn           = "deletes_in"
	CtrDeletesOut          = "deletes_out"
	CtrDPDRequestsOut      = "dpd_requests_out"
	CtrDPDRequestsIn       = "dpd_requests_in"
	CtrDPDTimeouts         = "dpd_timeouts"
	CtrKeepalives          = "keepalives"
	CtrIKEEstablished      = "ike_established"
	CtrIKEFailed           = "ike_failed"
	CtrChildEstablished    = "child_established"
	CtrChildFailed         = "child_failed"
	CtrChildRekeys         = "child_rekeys"
	CtrIKEReauths          = "ike_reauths"
	CtrIKERekeys           = "ike_rekeys"
	CtrIKEDuplicates       = "ike_duplicates" // IKE SAs deleted because another one with the same peer existed
	CtrInstallFailures     = "install_failures"
	CtrUnprotectedDropped  = "unprotected_dropped"
	CtrUnsupportedExchange = "unsupported_exchange"
	CtrRepliesMisdirected  = "replies_misdirected"   // a duplicate request from an address the SA does not know: not answered
	CtrExchangesRefused    = "exchanges_refused"     // responder Quick Modes / CREATE_CHILD_SAs beyond the per-SA bound
	CtrPairsEvicted        = "pairs_evicted"         // SA pairs deleted because a child held too many
	CtrRekeyCollisions     = "rekey_collisions"      // both ends rekeyed a pair at once; the redundant new pair is deleted
	CtrLateCollisions      = "rekey_collisions_late" // of those, seen only when the peer's rekey arrived after ours completed
	CtrSwitchesHeld        = "switches_held"         // rekeys whose outbound switch waited because the peer still sent only on the old pair
	CtrRekeysDeferred      = "rekeys_deferred"       // IKEv2: our rekeys of a pair the peer made with us, held until the peer showed it has the pair
	CtrDeletesResent       = "deletes_resent"        // a rekey collision's redundant pair: Delete sent again because the peer still sent on it
	CtrDeletesRepeated     = "deletes_repeated"      // IKEv1: copies of a Delete sent again unchanged while nothing followed it (Informationals are not acknowledged)
	CtrConfirmedByTraffic  = "confirmed_by_traffic"  // IKEv1 Quick Mode responder: completed by the initiator's first packet on the new pair, message 3 missing (also after the exchange timed out)
	CtrSoftExpires         = "soft_expires"          // byte/packet soft limits the data plane reported
	CtrHardExpires         = "hard_expires"          // byte/packet hard limits the data plane reported
	CtrAcquires            = "acquires"              // acquires the data plane reported
	CtrPoolExhausted       = "pool_exhausted"        // virtual IP requests no pool could serve
	CtrVirtualIPFailures   = "virtual_ip_failures"   // client: virtual IPs requested but not assigned
	CtrESPFloats           = "esp_floats"            // a NATed peer followed to a new address or port on a verified ESP-in-UDP datagram
	GaugeHalfOpen          = "half_open"             // a gauge: half-open responder IKE SAs right now
	// IKEv2 INVALID_IKE_SPI (RFC 7296 §2.21.4): answers to protected requests for IKE SAs we
	// do not know, those the rate limit held back, and such answers we received.
	CtrInvalidSPIOut     = "invalid_ike_spi_out"
	CtrInvalidSPILimited = "invalid_ike_spi_limited"
	CtrInvalidSPIIn      = "invalid_ike_spi_in"

	// IKE fragmentation (IKEv1 vendor-ID extension, RFC 7383).
	CtrFragmentsIn          = "fragments_in"          // fragments received
	CtrFragmentsOut         = "fragments_out"         // fragments sent
	CtrFragmentsReassembled = "fragments_reassembled" // messages reassembled from fragments
	CtrFragmentsDropped     = "fragments_dropped"     // fragments refused: malformed, duplicate, over a bound
	CtrFragmentsExpired     = "fragments_expired"     // reassemblies that timed out or were evicted
	GaugeReassemblies       = "reassemblies"          // a gauge: incomplete reassemblies right now

	// EAP-TLS (RFC 5216).
	CtrEAPTLSMalformed = "eap_tls_malformed" // EAP-TLS packets that break the framing (§3.1)
	CtrEAPTLSOverflows = "eap_tls_overflows" // EAP-TLS messages over the 64 KiB reassembly bound
)

var counterNames = []string{
	CtrMessagesIn, CtrMessagesOut, CtrRetransmits, CtrRetransmitGiveUps, CtrDuplicates, CtrMalformed,
	CtrDecryptFailures, CtrAuthFailures, CtrNoProposal, CtrInvalidID, CtrInvalidKE, CtrInvalidHash,
	CtrInvalidCookie, CtrInvalidExchange, CtrInvalidVersion, CtrUnexpected, CtrHalfOpenDrops,
	CtrHalfOpenExpired, CtrHalfOpenEvicted, CtrAmplificationDrops, CtrInboxFull, CtrSendErrors,
	CtrNotifiesIn, CtrErrorNotifiesIn, CtrErrorNotifiesOut, CtrDeletesIn, CtrDeletesOut,
	CtrDPDRequestsOut, CtrDPDRequestsIn, CtrDPDTimeouts, CtrKeepalives, CtrIKEEstablished,
	CtrIKEFailed, CtrChildEstablished, CtrChildFailed, CtrChildRekeys, CtrIKEReauths, CtrIKERekeys, CtrIKEDuplicates,
	CtrInstallFailures, CtrUnprotectedDropped, CtrUnsupportedExchange, CtrRepliesMisdirected,
	CtrExchangesRefused, CtrPairsEvicted, CtrRekeyCollisions, CtrLateCollisions, CtrSwitchesHeld, CtrRekeysDeferred, CtrDeletesResent, CtrDeletesRepeated, CtrConfirmedByTraffic, CtrSoftExpires, CtrHardExpires, CtrAcquires, CtrPoolExhausted, CtrVirtualIPFailures, CtrESPFloats, GaugeHalfOpen,
	CtrInvalidSPIOut, CtrInvalidSPILimited, CtrInvalidSPIIn,
	CtrFragmentsIn, CtrFragmentsOut, CtrFragmentsReassembled, CtrFragmentsDropped, CtrFragmentsExpired,
	GaugeReassemblies,
	CtrEAPTLSMalformed, CtrEAPTLSOverflows,
}

// Counters is a fixed set of atomic counters: written by the goroutine that owns the Core
// (and the engine's inbox for drops), read by anyone. Safe for concurrent use.
type Counters struct {
	m map[string]*atomic.Uint64
}

// NewCounters returns every counter at zero.
func NewCounters() *Counters {
	c := &Counters{m: make(map[string]*atomic.Uint64, len(counterNames))}
	for _, n := range counterNames {
		c.m[n] = new(atomic.Uint64)
	}
	return c
}

// Inc adds one to a counter.
func (c *Counters) Inc(name string) {
	if v, ok := c.m[name]; ok {
		v.Add(1)
	}
}

// Set stores a gauge's current value.
func (c *Counters) Set(name string, v uint64) {
	if g, ok := c.m[name]; ok {
		g.Store(v)
	}
}

// Get reads one counter.
func (c *Counters) Get(name string) uint64 {
	if v, ok := c.m[name]; ok {
		return v.Load()
	}
	return 0
}

// Snapshot copies every counter.
func (c *Counters) Snapshot() map[string]uint64 {
	out := make(map[string]uint64, len(c.m))
	for k, v := range c.m {
		out[k] = v.Load()
	}
	return out
}

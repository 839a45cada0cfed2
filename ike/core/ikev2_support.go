package core

// What IKEv2 adds to the shared core: counters of the stateless cookie (RFC 7296 §2.6) and
// a per-source view of the half-open table for the cookie threshold. The counters join the
// fixed set at init, so Counters, Snapshot and status report them like the others.

import "net/netip"

// IKEv2 counters.
const (
	CtrCookiesSent    = "cookies_sent"    // IKE_SA_INIT requests answered with a COOKIE
	CtrCookiesInvalid = "cookies_invalid" // IKE_SA_INIT requests with a wrong or stale COOKIE
)

func init() { counterNames = append(counterNames, CtrCookiesSent, CtrCookiesInvalid) }

// HalfOpenFrom is the number of half-open SAs of one source address now.
func (c *Core) HalfOpenFrom(src netip.Addr) int { return c.half.bySrc[src] }

package tun

// Name resolution inside the tunnel: when a remote-access gateway pushed DNS servers
// (IKEv2 INTERNAL_IP4_DNS / INTERNAL_IP6_DNS, IKEv1 Mode Config), the SOCKS5 proxy looks
// the names its clients ask for (ATYP DOMAINNAME) up with those servers, from the stack's
// own address through the tunnel: a stub resolver sending recursive queries over UDP
// (RFC 1035 §4.2.1), again over TCP when the answer is truncated (RFC 7766 §5). Answers
// are untrusted input: every one must answer our question with our ID, and only the
// addresses reached from the name through at most maxCNAMEHops CNAMEs are used. Lookups
// are bounded in time (lookupTimeout), the cache in size (dnsCacheMax) and age
// (dnsCacheMaxTTL). With no servers, names are refused as before.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/dns/dnsmessage"
)

const (
	// lookupTimeout bounds one name's resolution (all servers, both families).
	lookupTimeout = 10 * time.Second
	// dnsAttempts is how many rounds over the servers a query makes.
	dnsAttempts = 2
	// maxDNSServers is how many servers are kept (a gateway may push more).
	maxDNSServers = 4
	// dnsUDPSize is the EDNS(0) UDP payload size we announce (RFC 6891 §6.2.5; 1232 is the
	// DNS flag day 2020 value that avoids fragmentation).
	dnsUDPSize = 1232
	// maxCNAMEHops bounds the CNAME chain followed inside one answer.
	maxCNAMEHops = 8
	// maxAnswerRecords bounds the answer records looked at, maxAnswerAddrs the addresses kept.
	maxAnswerRecords = 64
	maxAnswerAddrs   = 16
	// dnsCacheMax bounds the cache's entries; dnsCacheMaxTTL how long one is kept.
	dnsCacheMax    = 256
	dnsCacheMaxTTL = 5 * time.Minute
)

// dnsAttemptTimeout bounds one query to one server (a variable for tests).
var dnsAttemptTimeout = 2 * time.Second

var (
	// ErrNoDNS: no DNS server was pushed; names are not resolved.
	ErrNoDNS = errors.New("tun: dns: no DNS servers inside the tunnel")
	// ErrNameNotFound: the servers say the name does not exist or has no address of a
	// family the stack has (NXDOMAIN, or NOERROR without data).
	ErrNameNotFound = errors.New("tun: dns: name not found")
	// ErrDNSFailed: no server gave a usable answer (timeouts, SERVFAIL, REFUSED, malformed
	// or mismatched answers).
	ErrDNSFailed = errors.New("tun: dns: lookup failed")
	// errBadName: the name cannot be a DNS name.
	errBadName = errors.New("tun: dns: invalid name")
)

// dnsState is a Netstack's resolver state; safe for concurrent use.
type dnsState struct {
	mu      sync.Mutex
	servers []netip.Addr
	cache   map[string]dnsCacheEntry

	lookups, notFound, failures atomic.Uint64
}

type dnsCacheEntry struct {
	addrs   []netip.Addr
	expires time.Time
}

// DNSCounters are the resolver's counters.
type DNSCounters struct {
	Lookups  uint64 // names looked up (cache hits included)
	NotFound uint64 // answered NXDOMAIN or without addresses
	Failures uint64 // no server answered usably
}

// SetDNSServers sets the servers names are resolved with (the first maxDNSServers distinct
// valid ones); none turns resolution off. The cache is emptied. Safe for concurrent use.
func (n *Netstack) SetDNSServers(servers []netip.Addr) {
	var keep []netip.Addr
	for _, s := range servers {
		s = s.Unmap()
		if !s.IsValid() || s.IsUnspecified() || s.IsMulticast() || s.Zone() != "" || slices.Contains(keep, s) {
			continue
		}
		if len(keep) == maxDNSServers {
			break
		}
		keep = append(keep, s)
	}
	n.dns.mu.Lock()
	changed := !slices.Equal(keep, n.dns.servers)
	n.dns.servers, n.dns.cache = keep, nil
	n.dns.mu.Unlock()
	if changed {
		n.log.Info("tun: dns: servers inside the tunnel", zap.Stringers("servers", keep))
	}
}

// DNSServers returns the servers names are resolved with.
func (n *Netstack) DNSServers() []netip.Addr {
	n.dns.mu.Lock()
	defer n.dns.mu.Unlock()
	return slices.Clone(n.dns.servers)
}

// DNSCounters returns the resolver's counters.
func (n *Netstack) DNSCounters() DNSCounters {
	return DNSCounters{Lookups: n.dns.lookups.Load(), NotFound: n.dns.notFound.Load(), Failures: n.dns.failures.Load()}
}

// LookupHost resolves name with the pushed DNS servers through the tunnel, returning the
// addresses of the families the stack has an address of (IPv4 first). Errors are ErrNoDNS,
// ErrNameNotFound, ErrDNSFailed (wrapped) or a name or context error.
func (n *Netstack) LookupHost(ctx context.Context, name string) ([]netip.Addr, error) {
	fqdn, err := canonicalName(name)
	if err != nil {
		return nil, err
	}
	n.dns.mu.Lock()
	servers := slices.Clone(n.dns.servers)
	e, hit := n.dns.cache[fqdn]
	n.dns.mu.Unlock()
	if len(servers) == 0 {
		return nil, ErrNoDNS
	}
	n.dns.lookups.Add(1)
	if hit && time.Now().Before(e.expires) {
		return slices.Clone(e.addrs), nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	qname, err := dnsmessage.NewName(fqdn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadName, err)
	}
	// A and AAAA at once, for the families the stack has an address of.
	type result struct {
		addrs []netip.Addr
		ttl   time.Duration
		err   error
	}
	var results [2]chan result
	asked := false
	for i, qt := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		if _, ok := n.addrFor(familyAddr(qt == dnsmessage.TypeA)); !ok {
			continue
		}
		asked = true
		results[i] = make(chan result, 1)
		go func() {
			a, t, err := n.query(ctx, servers, dnsmessage.Question{Name: qname, Type: qt, Class: dnsmessage.ClassINET})
			results[i] <- result{a, t, err}
		}()
	}
	var addrs []netip.Addr
	ttl := dnsCacheMaxTTL
	var lastErr error
	found := false
	for _, ch := range results {
		if ch == nil {
			continue
		}
		r := <-ch
		switch {
		case errors.Is(r.err, ErrNameNotFound):
			found = true // answered: nothing of this type
		case r.err != nil:
			lastErr = r.err
		default:
			found = true
			addrs = append(addrs, r.addrs...)
			ttl = min(ttl, r.ttl)
		}
	}
	switch {
	case !asked:
		n.dns.failures.Add(1)
		return nil, fmt.Errorf("%w: the tunnel has no address to send a query from", ErrDNSFailed)
	case len(addrs) > 0:
		n.cachePut(fqdn, servers, addrs, ttl)
		return addrs, nil
	case found && lastErr == nil:
		n.dns.notFound.Add(1)
		return nil, ErrNameNotFound
	}
	n.dns.failures.Add(1)
	if ctx.Err() != nil && lastErr == nil {
		lastErr = ctx.Err()
	}
	return nil, fmt.Errorf("%w: %v", ErrDNSFailed, lastErr)
}

func familyAddr(v4 bool) netip.Addr {
	if v4 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// cachePut caches a positive answer unless the servers changed meanwhile.
func (n *Netstack) cachePut(fqdn string, servers, addrs []netip.Addr, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	now := time.Now()
	n.dns.mu.Lock()
	defer n.dns.mu.Unlock()
	if !slices.Equal(servers, n.dns.servers) {
		return
	}
	if n.dns.cache == nil {
		n.dns.cache = make(map[string]dnsCacheEntry)
	}
	if len(n.dns.cache) >= dnsCacheMax {
		for k, e := range n.dns.cache {
			if now.After(e.expires) {
				delete(n.dns.cache, k)
			}
		}
		for k := range n.dns.cache { // still full: drop any one
			if len(n.dns.cache) < dnsCacheMax {
				break
			}
			delete(n.dns.cache, k)
		}
	}
	n.dns.cache[fqdn] = dnsCacheEntry{addrs: slices.Clone(addrs), expires: now.Add(ttl)}
}

// canonicalName checks a host name (RFC 1035 §2.3.1, RFC 1123 §2.1, with "_" allowed) and
// returns it lower-cased and fully qualified.
func canonicalName(name string) (string, error) {
	s := strings.ToLower(strings.TrimSuffix(name, "."))
	if s == "" || len(s) > 253 {
		return "", errBadName
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", errBadName
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", errBadName
			}
		}
	}
	return s + ".", nil
}

// query asks the servers in turn (dnsAttempts rounds) for q. It returns the addresses and
// their smallest TTL, ErrNameNotFound when a server says there are none, or the last error.
func (n *Netstack) query(ctx context.Context, servers []netip.Addr, q dnsmessage.Question) ([]netip.Addr, time.Duration, error) {
	var lastErr error
	for range dnsAttempts {
		for _, s := range servers {
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			if _, ok := n.addrFor(s); !ok {
				lastErr = fmt.Errorf("no address of the family of server %v", s)
				continue
			}
			addrs, ttl, err := n.exchange(ctx, netip.AddrPortFrom(s, 53), q)
			if err == nil || errors.Is(err, ErrNameNotFound) {
				return addrs, ttl, err
			}
			n.log.Debug("tun: dns: query failed", zap.Stringer("server", s), zap.String("name", q.Name.String()),
				zap.Stringer("type", q.Type), zap.Error(err))
			lastErr = fmt.Errorf("server %v: %w", s, err)
		}
	}
	return nil, 0, lastErr
}

// exchange sends q to server over UDP, and over TCP when the answer is truncated.
func (n *Netstack) exchange(ctx context.Context, server netip.AddrPort, q dnsmessage.Question) ([]netip.Addr, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, dnsAttemptTimeout)
	defer cancel()
	deadline, _ := actx.Deadline()
	id, msg, err := newQuery(q)
	if err != nil {
		return nil, 0, err
	}
	c, err := n.tnet.DialUDPAddrPort(netip.AddrPort{}, server)
	if err != nil {
		return nil, 0, err
	}
	stop := context.AfterFunc(actx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(msg); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, 4096)
	// Datagrams that do not answer our query (stray or forged) are skipped, a bounded
	// number of times, until the deadline.
	for range 16 {
		nr, err := c.Read(buf)
		if err != nil {
			return nil, 0, err
		}
		addrs, ttl, trunc, err := parseAnswer(buf[:nr], id, q)
		if errors.Is(err, errMismatch) {
			continue
		}
		if err == nil && trunc {
			return n.exchangeTCP(actx, server, q)
		}
		return addrs, ttl, err
	}
	return nil, 0, errors.New("tun: dns: too many unrelated datagrams")
}

// exchangeTCP sends q to server over TCP (RFC 1035 §4.2.2: two-byte length prefix).
func (n *Netstack) exchangeTCP(ctx context.Context, server netip.AddrPort, q dnsmessage.Question) ([]netip.Addr, time.Duration, error) {
	id, msg, err := newQuery(q)
	if err != nil {
		return nil, 0, err
	}
	c, err := n.tnet.DialContextTCPAddrPort(ctx, server)
	if err != nil {
		return nil, 0, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	if _, err := c.Write(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))); err != nil {
		return nil, 0, err
	}
	if _, err := c.Write(msg); err != nil {
		return nil, 0, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, 0, err
	}
	addrs, ttl, _, err := parseAnswer(buf, id, q)
	if errors.Is(err, errMismatch) {
		return nil, 0, fmt.Errorf("tun: dns: TCP answer does not match the query: %w", err)
	}
	return addrs, ttl, err
}

// newQuery builds a recursive query for q with a random ID and an EDNS(0) OPT record.
func newQuery(q dnsmessage.Question) (uint16, []byte, error) {
	var idb [2]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return 0, nil, err
	}
	id := binary.BigEndian.Uint16(idb[:])
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return 0, nil, err
	}
	if err := b.Question(q); err != nil {
		return 0, nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return 0, nil, err
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(dnsUDPSize, dnsmessage.RCodeSuccess, false); err != nil {
		return 0, nil, err
	}
	if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
		return 0, nil, err
	}
	msg, err := b.Finish()
	return id, msg, err
}

// errMismatch: a message that is not the answer to our query.
var errMismatch = errors.New("tun: dns: not an answer to the query")

// parseAnswer checks that msg answers q with ID id and returns the addresses of q's type
// reached from q's name (directly or through CNAMEs), their smallest TTL, and whether the
// message was truncated. A valid answer without such addresses is ErrNameNotFound when
// the server says NXDOMAIN or NOERROR; other rcodes are errors.
func parseAnswer(msg []byte, id uint16, q dnsmessage.Question) (addrs []netip.Addr, ttl time.Duration, truncated bool, err error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, 0, false, fmt.Errorf("%w: %v", errMismatch, err)
	}
	if h.ID != id || !h.Response || h.OpCode != 0 {
		return nil, 0, false, errMismatch
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || qs[0].Type != q.Type || qs[0].Class != q.Class || !strings.EqualFold(qs[0].Name.String(), q.Name.String()) {
		return nil, 0, false, errMismatch
	}
	if h.Truncated {
		return nil, 0, true, nil
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return nil, 0, false, ErrNameNotFound
	default:
		return nil, 0, false, fmt.Errorf("tun: dns: server answered %v", h.RCode)
	}
	type rec struct {
		owner, cname string
		addr         netip.Addr
		ttl          uint32
	}
	var recs []rec
	for range maxAnswerRecords {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, 0, false, fmt.Errorf("tun: dns: malformed answer: %w", err)
		}
		r := rec{owner: strings.ToLower(rh.Name.String()), ttl: rh.TTL}
		switch {
		case rh.Class != dnsmessage.ClassINET:
			err = p.SkipAnswer()
		case rh.Type == dnsmessage.TypeA && q.Type == dnsmessage.TypeA:
			var a dnsmessage.AResource
			if a, err = p.AResource(); err == nil {
				r.addr = netip.AddrFrom4(a.A)
			}
		case rh.Type == dnsmessage.TypeAAAA && q.Type == dnsmessage.TypeAAAA:
			var a dnsmessage.AAAAResource
			if a, err = p.AAAAResource(); err == nil {
				r.addr = netip.AddrFrom16(a.AAAA)
			}
		case rh.Type == dnsmessage.TypeCNAME:
			var c dnsmessage.CNAMEResource
			if c, err = p.CNAMEResource(); err == nil {
				r.cname = strings.ToLower(c.CNAME.String())
			}
		default:
			err = p.SkipAnswer()
		}
		if err != nil {
			return nil, 0, false, fmt.Errorf("tun: dns: malformed answer: %w", err)
		}
		if r.addr.IsValid() || r.cname != "" {
			recs = append(recs, r)
		}
	}
	// Follow the chain from the question's name; the TTL is the smallest along it.
	name := strings.ToLower(q.Name.String())
	minTTL := uint32(dnsCacheMaxTTL / time.Second)
	for hop := 0; ; hop++ {
		next := ""
		for _, r := range recs {
			if r.owner != name {
				continue
			}
			if r.cname != "" && next == "" {
				next = r.cname
				minTTL = min(minTTL, r.ttl)
			}
			if usableAnswer(r.addr) && len(addrs) < maxAnswerAddrs {
				if !slices.Contains(addrs, r.addr) {
					addrs = append(addrs, r.addr)
					minTTL = min(minTTL, r.ttl)
				}
			}
		}
		if len(addrs) > 0 || next == "" || hop == maxCNAMEHops {
			break
		}
		name = next
	}
	if len(addrs) == 0 {
		return nil, 0, false, ErrNameNotFound
	}
	return addrs, time.Duration(minTTL) * time.Second, false, nil
}

// usableAnswer reports whether an answered address can be a connection's target: not
// unspecified, loopback or multicast (an answer cannot point the proxy at itself).
func usableAnswer(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast()
}

// lookupReplyCode maps a failed lookup to a SOCKS5 reply (RFC 1928 §6): a name that does
// not exist (or is not a name) is an unreachable host, servers that did not answer a
// general failure.
func lookupReplyCode(err error) byte {
	switch {
	case errors.Is(err, ErrNameNotFound), errors.Is(err, errBadName), errors.Is(err, ErrNoDNS):
		return socksHostUnreachable
	}
	return socksGeneralFailure
}

// resolveTarget turns a request's address into the targets to try: an IP, or the
// addresses of a name from the pushed DNS servers.
func (n *Netstack) resolveTarget(ctx context.Context, a socksAddr) ([]netip.AddrPort, error) {
	if ap, ok := a.resolve(); ok {
		return []netip.AddrPort{ap}, nil
	}
	addrs, err := n.LookupHost(ctx, a.name)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, ip := range addrs {
		out = append(out, netip.AddrPortFrom(ip, a.port))
	}
	return out, nil
}

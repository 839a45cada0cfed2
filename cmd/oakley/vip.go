package main

// Virtual IPs of a remote-access client (vips): the IKE engine reports what a gateway
// assigned (core.Config.OnVirtualIPs; IKEv2's configuration payload, and IKEv1 Mode Config
// once it exists) and when the IKE SA that got them died. The daemon puts the addresses on
// the TUN device and, with device.routes, routes through it the split networks the gateway
// announced, or else the remote traffic selectors of the connection's children (0.0.0.0/0:
// everything), as policy routes with the virtual IP as preferred source: oakley's own IKE and
// ESP packets carry the firewall mark that skips the policy table, so the gateway's address
// stays outside the tunnel. When the SA dies (Up = false) both go again. On the netstack
// device the addresses go onto the userspace stack (the newest one the source of new
// connections; no routes: the stack sends everything through the tunnel), and the DNS
// servers of the assignments in force are what the SOCKS5 proxy resolves names with. On the
// TUN device DNS servers are logged, not configured.
//
// The engine calls event from its goroutine, which must not block: events are queued, and
// one goroutine applies them in order.

import (
	"maps"
	"net/netip"
	"slices"
	"sync"

	"go.uber.org/zap"

	"oakley/config"
	"oakley/ike/core"
	"oakley/tun"
)

// vipState is the daemon's record of assigned virtual IPs.
type vipState struct {
	d *daemon

	mu      sync.Mutex
	queue   []core.VirtualIPs
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
	active  map[string]core.VirtualIPs // by connection: what is on the device now
	addrs   map[string][]netip.Prefix  // by connection: addresses we added
	errors  uint64                     // failures to apply (status counter)
}

func newVIPState(d *daemon) *vipState {
	return &vipState{d: d, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		active: map[string]core.VirtualIPs{}, addrs: map[string][]netip.Prefix{}}
}

// event queues an assignment or withdrawal (called from the engine's goroutine).
func (s *vipState) event(v core.VirtualIPs) {
	s.mu.Lock()
	s.queue = append(s.queue, v)
	if !s.started {
		s.started = true
		go s.run()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *vipState) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, v := range q {
			s.apply(v)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-s.stop:
			s.drain()
			return
		}
	}
}

// drain applies what is still queued (the engine's teardown withdraws everything) and then
// stops; called once, after the engine stopped.
func (s *vipState) drain() {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, v := range q {
		s.apply(v)
	}
}

// shutdown withdraws what is left and stops the goroutine (after the engine stopped).
func (s *vipState) shutdown() {
	s.mu.Lock()
	started := s.started
	s.started = true // no goroutine starts after this
	s.mu.Unlock()
	if !started {
		s.drain()
		return
	}
	close(s.stop)
	<-s.done
}

func (s *vipState) log() *zap.Logger { return s.d.log.Named("vip") }

// apply puts an assignment on the device or takes it away.
func (s *vipState) apply(v core.VirtualIPs) {
	log := s.log().With(zap.String("conn", v.Conn))
	if !v.Up {
		s.mu.Lock()
		_, had := s.active[v.Conn]
		delete(s.active, v.Conn)
		added := s.addrs[v.Conn]
		delete(s.addrs, v.Conn)
		s.mu.Unlock()
		if !had {
			return
		}
		s.syncRoutes(log)
		s.syncDNS()
		dev := s.device()
		for _, p := range added {
			if dev == nil {
				break
			}
			if err := dev.RemoveAddress(p); err != nil {
				s.failed(log, "removing a virtual IP", err)
			}
		}
		log.Info("virtual IPs withdrawn", zap.Stringers("addresses", v.Addrs))
		return
	}
	log.Info("virtual IPs assigned", zap.Stringers("addresses", v.Addrs), zap.Stringers("dns", v.DNS),
		zap.Stringers("split", v.Split), zap.Stringer("gateway", v.Gateway))
	dev := s.device()
	if dev == nil {
		s.mu.Lock()
		s.active[v.Conn] = v
		s.mu.Unlock()
		return
	}
	var added []netip.Prefix
	for _, a := range v.Addrs {
		p := netip.PrefixFrom(a, a.BitLen())
		if slices.Contains(s.addrsOf(v.Conn), p) {
			added = append(added, p)
			continue
		}
		if err := dev.AddAddress(p); err != nil {
			s.failed(log, "adding a virtual IP", err)
			continue
		}
		added = append(added, p)
	}
	s.mu.Lock()
	// A newer assignment replaces an older one of the connection: drop the older addresses
	// it does not keep.
	stale := []netip.Prefix{}
	for _, p := range s.addrs[v.Conn] {
		if !slices.Contains(added, p) {
			stale = append(stale, p)
		}
	}
	s.active[v.Conn], s.addrs[v.Conn] = v, added
	s.mu.Unlock()
	s.syncRoutes(log)
	s.syncDNS()
	for _, p := range stale {
		if err := dev.RemoveAddress(p); err != nil {
			s.failed(log, "removing a replaced virtual IP", err)
		}
	}
}

// addrDevice is a device that takes addresses while it runs (*tun.TUN, *tun.Netstack).
type addrDevice interface {
	AddAddress(netip.Prefix) error
	RemoveAddress(netip.Prefix) error
}

// device returns the device virtual IPs go onto, or nil.
func (s *vipState) device() addrDevice {
	switch {
	case s.d.tun != nil:
		return s.d.tun
	case s.d.ns != nil:
		return s.d.ns
	}
	return nil
}

// syncDNS gives the netstack's resolver the DNS servers of the assignments in force (in
// the order of the connections' names, so the choice does not depend on map order).
func (s *vipState) syncDNS() {
	if s.d.ns == nil {
		return
	}
	s.mu.Lock()
	names := slices.Sorted(maps.Keys(s.active))
	var servers []netip.Addr
	for _, name := range names {
		servers = append(servers, s.active[name].DNS...)
	}
	s.mu.Unlock()
	s.d.ns.SetDNSServers(servers)
}

func (s *vipState) addrsOf(conn string) []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[conn]
}

func (s *vipState) failed(log *zap.Logger, what string, err error) {
	s.mu.Lock()
	s.errors++
	s.mu.Unlock()
	log.Error(what+" failed", zap.Error(err))
}

// syncRoutes makes the device's routes follow the configuration and the assignments.
func (s *vipState) syncRoutes(log *zap.Logger) {
	d := s.d
	cfg, _ := d.state()
	if d.tun == nil || !cfg.Device.Routes {
		return
	}
	plain, policy := d.routes(cfg)
	if _, err := d.tun.UpdateRoutes(plain, policy); err != nil {
		s.failed(log, "routing the virtual IP's networks", err)
	}
}

// routes returns the policy routes of the assignments in force: for each, the split
// networks (or the connection's remote traffic selectors) of the families it has an address
// of, with that address as source.
func (s *vipState) routes(cfg *config.Config) []tun.PolicyRoute {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tun.PolicyRoute
	for name, v := range s.active {
		if len(s.addrs[name]) == 0 {
			continue
		}
		nets := v.Split
		if len(nets) == 0 {
			for _, c := range cfg.Connections {
				if c.Name != name {
					continue
				}
				for _, ch := range c.Children {
					for _, ts := range ch.RemoteTS {
						nets = append(nets, ts.Prefix)
					}
				}
			}
		}
		for _, p := range nets {
			for _, a := range v.Addrs {
				if a.Is4() == p.Addr().Is4() {
					out = append(out, tun.PolicyRoute{Prefix: p.Masked(), Src: a})
					break
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b tun.PolicyRoute) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// errorCount is how often putting virtual IPs on the device or routing them failed.
func (s *vipState) errorCount() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errors
}

// hasVIPs reports whether a connection of cfg asks for virtual IPs.
func hasVIPs(cfg *config.Config) bool {
	for _, c := range cfg.Connections {
		if c.Keying == "ike" && len(c.VIPs) > 0 {
			return true
		}
	}
	return false
}

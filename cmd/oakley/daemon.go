package main

// The daemon: wiring only. Configuration → device (TUN or netstack) → data plane (sockets,
// SAD, SPD) → SAs from manual keys or from the IKE engine → control socket and metrics.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/conn"

	"oakley/config"
	"oakley/esp"
	"oakley/tun"
)

// daemonOptions let the demo and tests run daemons in one process.
type daemonOptions struct {
	newBind   func() conn.Bind    // nil = wireguard's batched UDP sockets
	noControl bool                // skip the control socket
	level     *zap.AtomicLevel    // the logger's level, which reload sets from log_level; nil = fixed
	privDrop  func(*daemon) error // nil = dropPrivileges (tests replace it)
}

// daemon is the running oakley. cfg and children change only in reload, under mu (written)
// and reloadMu (reloads and stop one at a time); other goroutines read them through state().
type daemon struct {
	log     *zap.Logger
	opts    daemonOptions
	started time.Time

	mu           sync.RWMutex
	cfg          *config.Config
	children     []*childRuntime
	manualErrors map[string]string // "conn/child" → why a reload could not install it

	dev     esp.Device
	tun     *tun.TUN
	ns      *tun.Netstack
	dp      *esp.Dataplane
	ike     *ikeRuntime
	ctl     *controlServer
	metrics *metricsServer
	devMTU  int
	fwmark  uint32
	hasRaw  bool     // the data plane has raw ESP/AH sockets (encap = "raw" or "auto")
	keylog  *os.File // OAKLEY_KEYLOG, closed at stop
	vips    *vipState

	pathMu  sync.Mutex
	pathMTU map[netip.Addr]int

	reloadMu sync.Mutex
	stopped  bool           // under reloadMu: no reload after stop began
	reloads  reloadCounters // for /metrics
	retired  []*config.User // users of earlier configurations, wiped by wipeSecrets

	stopOnce sync.Once
}

// state returns the configuration and the manual children in force (never modified in place:
// a reload replaces both).
func (d *daemon) state() (*config.Config, []*childRuntime) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cfg, d.children
}

// childRuntime is one manually keyed [[connection.child]] at run time (IKE-keyed children
// and their SPD entries live in the engine).
type childRuntime struct {
	conn   *config.Connection
	child  *config.Child
	policy *esp.Policy
	in     *esp.SA
	out    *esp.SA
}

func (c *childRuntime) name() string { return c.conn.Name + "/" + c.child.Name }

func startDaemon(ctx context.Context, cfg *config.Config, log *zap.Logger, opts daemonOptions) (d *daemon, err error) {
	d = &daemon{cfg: cfg, log: log, opts: opts, started: time.Now(), pathMTU: map[netip.Addr]int{}, manualErrors: map[string]string{}}
	d.vips = newVIPState(d)
	defer func() {
		if err != nil {
			d.stop()
			d = nil
		}
	}()
	d.measurePaths(cfg)
	if err = d.openDevice(); err != nil {
		return d, err
	}
	if err = d.openDataplane(); err != nil {
		return d, err
	}
	for _, c := range cfg.Connections {
		if c.Keying != "manual" {
			continue
		}
		for _, ch := range c.Children {
			r := d.newManualChild(c, ch)
			d.children = append(d.children, r)
			if err = d.installManual(r); err != nil {
				return d, fmt.Errorf("%s: %w", r.name(), err)
			}
		}
	}
	if err = d.startIKE(ctx); err != nil {
		return d, err
	}
	d.dp.Start()
	if err = d.startNetstackServices(ctx); err != nil {
		return d, err
	}
	if !opts.noControl {
		if d.ctl, err = startControl(cfg.Daemon.ControlSocket, d); err != nil {
			return d, err
		}
	}
	if cfg.Daemon.Metrics != "" {
		if d.metrics, err = startMetrics(cfg.Daemon.Metrics, d); err != nil {
			return d, err
		}
	}
	// Everything that needs root is open and bound: run as [daemon] user from here on.
	drop := opts.privDrop
	if drop == nil {
		drop = dropPrivileges
	}
	if err = drop(d); err != nil {
		return d, err
	}
	log.Info("oakley up", zap.String("version", version), zap.String("config", cfg.File),
		zap.String("device", d.deviceName()), zap.Int("mtu", d.devMTU),
		zap.Int("connections", len(cfg.Connections)), zap.Uint16("ike_port", cfg.Daemon.IKEPort),
		zap.Uint16("natt_port", cfg.Daemon.NATTPort))
	if cfg.Daemon.InsecureAlgorithms && d.ike == nil { // the IKE engine warns per connection itself
		log.Warn("insecure algorithms enabled (DES, HMAC-MD5, MODP 768/1024/1536)")
	}
	return d, nil
}

// measurePaths asks the OS for the path MTU towards each peer it does not know yet (1500
// where unknown).
func (d *daemon) measurePaths(cfg *config.Config) {
	for _, c := range cfg.Connections {
		if !c.RemoteIP.IsValid() {
			continue
		}
		d.pathMu.Lock()
		_, known := d.pathMTU[c.RemoteIP]
		d.pathMu.Unlock()
		if known {
			continue
		}
		mtu, err := tun.RouteMTU(c.RemoteIP)
		if err != nil || mtu < 576 {
			mtu = 1500
		}
		d.pathMu.Lock()
		d.pathMTU[c.RemoteIP] = mtu
		d.pathMu.Unlock()
	}
}

// pathMTUFor is safe for concurrent use (the IKE engine calls it).
func (d *daemon) pathMTUFor(a netip.Addr) int {
	d.pathMu.Lock()
	defer d.pathMu.Unlock()
	if m, ok := d.pathMTU[a]; ok {
		return m
	}
	return 1500
}

// needsRaw says whether a connection needs the raw ESP/AH sockets.
func needsRaw(c *config.Connection) bool { return encapOf(c) == esp.EncapRaw || c.Encap == "auto" }

func encapOf(c *config.Connection) esp.Encap {
	if c.Encap == "raw" || (c.Encap == "auto" && c.Keying == "manual") {
		return esp.EncapRaw
	}
	return esp.EncapUDP
}

// deviceMTU is the device MTU for cfg: device.mtu, or one every child can carry.
func (d *daemon) deviceMTU(cfg *config.Config) int {
	mtu := cfg.Device.MTU
	if mtu == 0 {
		for _, c := range cfg.Connections {
			for _, ch := range c.Children {
				m := esp.ProposalMTU(d.pathMTUFor(c.RemoteIP), ch.ESPProposals, ch.AHProposals, encapOf(c), c.RemoteIP.Is6())
				if mtu == 0 || m < mtu {
					mtu = m
				}
			}
		}
		if mtu == 0 {
			mtu = tun.DefaultMTU
		}
		if mtu < 1280 && hasIPv6(cfg) {
			mtu = 1280
		}
	}
	return mtu
}

// openDevice creates the TUN or netstack device with an MTU every child can carry.
func (d *daemon) openDevice() error {
	cfg := d.cfg
	mtu := d.deviceMTU(cfg)
	d.devMTU = mtu
	switch cfg.Device.Kind {
	case "netstack":
		var addrs []netip.Addr
		for _, p := range cfg.Device.Addresses {
			addrs = append(addrs, p.Addr())
		}
		ns, err := tun.OpenNetstack(tun.NetstackOptions{Addresses: addrs, MTU: mtu, VirtualIPs: hasVIPs(cfg)}, d.log.Named("netstack"))
		if err != nil {
			return err
		}
		d.ns, d.dev = ns, ns
	default:
		opts := tun.Options{Name: cfg.Device.Name, MTU: mtu, Addresses: cfg.Device.Addresses, Offload: cfg.Device.Offload}
		if cfg.Device.Routes {
			opts.Routes, opts.PolicyRoutes = d.routes(cfg)
			if len(opts.PolicyRoutes) > 0 || hasVIPs(cfg) {
				// Virtual IPs are routed by policy routes added when they are assigned.
				opts.FwMark, opts.Table = tun.FwMark, tun.Table
				d.fwmark = tun.FwMark
			}
		}
		t, err := tun.Open(opts, d.log.Named("tun"))
		if err != nil {
			return err
		}
		d.tun, d.dev = t, t
	}
	return nil
}

func hasIPv6(cfg *config.Config) bool {
	for _, p := range cfg.Device.Addresses {
		if p.Addr().Is6() {
			return true
		}
	}
	for _, c := range cfg.Connections {
		for _, ch := range c.Children {
			for _, ts := range ch.RemoteTS {
				if ts.Prefix.Addr().Is6() {
					return true
				}
			}
		}
	}
	return false
}

// routes lists what to route through the device: every child's remote traffic selectors,
// planned by tun (policy routes for those that would capture a peer's own address), and the
// routes of the virtual IPs in force (vip.go). A connection that asks for virtual IPs is
// routed only while it has them.
func (d *daemon) routes(cfg *config.Config) (plain []netip.Prefix, policy []tun.PolicyRoute) {
	var specs []tun.RouteSpec
	var peers []netip.Addr
	for _, c := range cfg.Connections {
		peers = append(peers, c.RemoteIP)
		if c.Keying == "ike" && len(c.VIPs) > 0 {
			continue
		}
		for _, ch := range c.Children {
			for _, ts := range ch.RemoteTS {
				s := tun.RouteSpec{Prefix: ts.Prefix, Transport: ch.Mode == "transport"}
				if s.Transport && c.RemoteIP.IsValid() {
					s.Src, _ = localAddrFor(c.LocalIP, c.RemoteIP)
				}
				specs = append(specs, s)
			}
		}
	}
	plain, policy = tun.PlanRoutes(specs, peers)
	if d.vips != nil {
		policy = append(policy, d.vips.routes(cfg)...)
	}
	return plain, policy
}

func (d *daemon) deviceName() string {
	if d.tun != nil {
		if n, err := d.tun.Name(); err == nil {
			return n
		}
	}
	if d.ns != nil {
		return "netstack"
	}
	return ""
}

func (d *daemon) newBind() conn.Bind {
	if d.opts.newBind != nil {
		return d.opts.newBind()
	}
	return newUDPBind(d.cfg.Daemon.UDPOffload, int(d.cfg.Daemon.SocketBuffer))
}

func (d *daemon) openDataplane() error {
	cfg := d.cfg
	raw, ike := false, false
	for _, c := range cfg.Connections {
		raw = raw || needsRaw(c)
		ike = ike || c.Keying == "ike"
	}
	d.hasRaw = raw
	opts := esp.Options{
		Device:   d.dev,
		NATT:     d.newBind(),
		NATTPort: cfg.Daemon.NATTPort,
		IKEPort:  cfg.Daemon.IKEPort,
		Raw:      raw,
		FwMark:   d.fwmark,
		Workers:  cfg.Daemon.Workers,
		Log:      d.log.Named("esp"),
		OnIKE:    d.onIKE,
	}
	if ike {
		opts.IKE = d.newBind()
	}
	// ICMPSource4/6 stay unset: "packet too big" errors then come from the packet's
	// destination. From one of the device's own addresses the host would drop them: Linux
	// discards an IPv4 packet arriving with a local source address (martian source, unless
	// accept_local), and gVisor's netstack drops both families from its own addresses.
	dp, err := esp.New(opts)
	if err != nil {
		return err
	}
	d.dp = dp
	return nil
}

func selectors(ts []config.TrafficSelector) []esp.Selector {
	out := make([]esp.Selector, len(ts))
	for i, t := range ts {
		out[i] = esp.Selector{Prefix: t.Prefix, Proto: t.Proto, PortLo: t.PortLo, PortHi: t.PortHi}
	}
	return out
}

// newManualChild creates the SPD entry of a manually keyed child: one SA pair for all its
// selectors.
func (d *daemon) newManualChild(c *config.Connection, ch *config.Child) *childRuntime {
	r := &childRuntime{conn: c, child: ch}
	r.policy = &esp.Policy{Name: r.name(), Local: selectors(ch.LocalTS), Remote: selectors(ch.RemoteTS), Action: esp.Protect}
	d.dp.AddPolicy(r.policy)
	return r
}

// localAddrFor returns the configured local address, or the one the OS would use to reach
// remote (a connected UDP socket sends nothing).
func localAddrFor(local, remote netip.Addr) (netip.Addr, error) {
	if local.IsValid() {
		return local, nil
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %w", remote, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// installManual installs the fixed SAs of a keying = "manual" child (RFC 4301 §4.5).
func (d *daemon) installManual(r *childRuntime) error {
	c, ch := r.conn, r.child
	local, err := localAddrFor(c.LocalIP, c.RemoteIP)
	if err != nil {
		return err
	}
	mode := esp.Tunnel
	if ch.Mode == "transport" {
		mode = esp.Transport
	}
	encap := encapOf(c)
	base := esp.Config{Mode: mode, Proto: esp.ESP, Replay: ch.ReplayWindow,
		Life: esp.Lifetime{HardBytes: uint64(ch.LifeBytes), HardPackets: uint64(ch.LifePackets)}}
	if len(ch.AHProposals) > 0 {
		base.Proto = esp.AH
		p := ch.AHProposals[0]
		base.Integ = p.Integ[0]
		base.ESN = p.ESN[0].ESN
	} else {
		p := ch.ESPProposals[0]
		base.Enc = p.Encr[0]
		if len(p.Integ) > 0 {
			base.Integ = p.Integ[0]
		}
		base.ESN = p.ESN[0].ESN
	}
	in := base
	in.SPI, in.Dir = ch.InSPI, esp.Inbound
	in.EncKey, in.IntegKey = ch.InKey, ch.InAuthKey
	in.Local, in.Remote = r.policy.Local, r.policy.Remote
	in.LocalAddr, in.RemoteAddr = local, c.RemoteIP
	out := base
	out.SPI, out.Dir = ch.OutSPI, esp.Outbound
	out.EncKey, out.IntegKey = ch.OutKey, ch.OutAuthKey
	out.Local, out.Remote = r.policy.Local, r.policy.Remote
	out.LocalAddr, out.RemoteAddr = local, c.RemoteIP
	if r.out, err = d.dp.Install(out); err != nil {
		return err
	}
	mtu := r.out.TunnelMTU(d.pathMTUFor(c.RemoteIP), encap, c.RemoteIP)
	in.MTU = mtu
	if r.in, err = d.dp.Install(in); err != nil {
		return err
	}
	peer := netip.AddrPortFrom(c.RemoteIP, c.RemoteNATTPort)
	if encap == esp.EncapRaw {
		peer = netip.AddrPortFrom(c.RemoteIP, 0)
	}
	if err := d.dp.Bind(r.policy, r.out, peer, c.LocalIP, encap, mtu); err != nil {
		return err
	}
	d.log.Info("manual SAs installed", zap.String("child", r.name()), zap.String("mode", mode.String()),
		zap.String("algorithms", r.out.Algorithms()), zap.String("encap", encap.String()),
		zap.String("spi_in", fmt.Sprintf("0x%08x", ch.InSPI)), zap.String("spi_out", fmt.Sprintf("0x%08x", ch.OutSPI)),
		zap.Stringer("peer", peer), zap.Int("mtu", mtu))
	return nil
}

// stopDeadline bounds the whole teardown, even with a negotiation in flight.
const stopDeadline = 5 * time.Second

// stop tears everything down, in order and within stopDeadline: stop taking new commands;
// quiesce the data plane (no more packets in or out of the tunnel); let the IKE engine send
// its Deletes and retire its SAs; retire the manual SAs; close the sockets, wait for the
// pipelines and so wipe every retired SA; close the device (and with it the routes it added)
// and finally the control socket.
func (d *daemon) stop() {
	d.stopOnce.Do(func() {
		deadline := time.Now().Add(stopDeadline)
		if d.ctl != nil {
			d.ctl.stopAccepting()
		}
		if d.metrics != nil {
			d.metrics.close()
		}
		if d.dp != nil {
			d.dp.Quiesce()
		}
		if d.ike != nil {
			d.ike.stop(time.Until(deadline))
		}
		d.vips.shutdown() // the engine withdrew every virtual IP as it stopped
		d.reloadMu.Lock() // a reload in flight finishes first; none starts after this
		d.stopped = true
		d.reloadMu.Unlock()
		for _, c := range d.children {
			if d.dp != nil {
				d.dp.Unbind(c.policy)
				d.dp.RemovePolicy(c.policy)
				d.dp.Retire(c.in)
				d.dp.Retire(c.out)
			}
		}
		if d.dp != nil {
			d.dp.Close()
		}
		if d.tun != nil {
			if err := d.tun.Close(); err != nil {
				d.log.Warn("closing TUN", zap.Error(err))
			}
		}
		if d.ns != nil {
			d.ns.Close()
		}
		if d.dp != nil {
			d.dp.Wait()
		}
		if d.ctl != nil {
			d.ctl.close(time.Until(deadline))
		}
		if d.keylog != nil {
			d.keylog.Close()
		}
	})
}

func (d *daemon) onIKE(msg []byte, from, local netip.AddrPort) {
	if d.ike != nil {
		d.ike.handle(msg, from, local)
	}
}

// policies returns every SPD entry: the manual children's and the IKE engine's.
func (d *daemon) policies() []*esp.Policy {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.policiesLocked(d.children)
}

// policiesLocked is policies for children, with d.mu held (a reload replaces the engine's
// policies under the write lock).
func (d *daemon) policiesLocked(children []*childRuntime) []*esp.Policy {
	var out []*esp.Policy
	for _, c := range children {
		out = append(out, c.policy)
	}
	if d.ike != nil {
		out = append(out, d.ike.engine.Policies()...)
	}
	return out
}

var errNoSuchConnection = errors.New("no such connection")

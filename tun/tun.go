package tun

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	wgtun "golang.zx2c4.com/wireguard/tun"
)

// Device is the batch packet device the data plane reads and writes: wireguard-go's
// tun.Device, re-exported so that the rest of oakley imports this package only.
type Device = wgtun.Device

// Event is a device state change delivered on Device.Events.
type Event = wgtun.Event

// Device events, re-exported from wireguard-go.
const (
	EventUp        = wgtun.EventUp
	EventDown      = wgtun.EventDown
	EventMTUUpdate = wgtun.EventMTUUpdate
)

// ErrTooManySegments is returned by Read when a kernel "super packet" splits into more
// packets than len(bufs); the read data is lost but later reads work (wireguard-go's error).
var ErrTooManySegments = wgtun.ErrTooManySegments

// MinOffset is the smallest offset every Device of this package accepts in Read and Write:
// it covers the Linux virtio-net header (10 bytes) and the BSD address-family header
// (4 bytes), rounded up as wireguard-go's own data plane does.
const MinOffset = 16

// DefaultMTU is the MTU used when Options.MTU or NetstackOptions.MTU is zero: a 1500-byte
// path minus the worst-case ESP-in-UDP overhead over IPv6 with AES-CBC and HMAC-SHA2-512.
const DefaultMTU = 1400

// Options configures a kernel TUN device for Open.
type Options struct {
	// Name of the interface. Linux: at most 15 bytes, empty lets the kernel pick "tunN".
	// macOS: must be "utun" or "utunN"; any other name is replaced by "utun" (the kernel
	// picks the number). Windows: the wintun adapter name.
	Name string
	// MTU of the interface; 0 means DefaultMTU. Must be >= 1280 when an IPv6 address or
	// route is configured, >= 576 otherwise, and <= 65535.
	MTU int
	// Addresses of this site inside the tunnel, IPv4 and/or IPv6 (e.g. 192.0.2.1/32).
	Addresses []netip.Prefix
	// Routes installed through the device, one per prefix (e.g. every remote traffic
	// selector). Prefixes must not have host bits set.
	Routes []netip.Prefix
	// Offload asks for virtio-net-header offloads (Linux only): TSO/USO "super packets" on
	// Read, GRO coalescing on Write, and BatchSize() > 1. If the kernel refuses, the device
	// is opened without them and a warning is logged. False really opens the device
	// without the virtio-net header.
	Offload bool
	// PolicyRoutes are routed through the device in routing table Table, consulted only by
	// packets that do not carry FwMark (the rule "not fwmark FwMark lookup Table"). oakley marks
	// its own IKE and ESP sockets with FwMark, so these prefixes may include the peer's own
	// address, as transport mode needs, without oakley's packets looping into the device.
	// Linux only.
	PolicyRoutes []PolicyRoute
	FwMark       uint32
	Table        uint32
}

// PolicyRoute is a route through the device in the policy table. Src, when valid, is the
// preferred source address of packets taking it (RTA_PREFSRC): in transport mode the local
// address the SA protects, not the device's own address.
type PolicyRoute struct {
	Prefix netip.Prefix
	Src    netip.Addr
}

func (r PolicyRoute) String() string {
	if r.Src.IsValid() {
		return r.Prefix.String() + " src " + r.Src.String()
	}
	return r.Prefix.String()
}

var (
	_ Device = (*TUN)(nil)
	_ Device = (*Netstack)(nil)
)

// change is one piece of configuration Open added and Close must remove again.
type change struct {
	route  bool // a route (true) or an interface address (false)
	prefix netip.Prefix
	table  uint32 // policy routes: the table; 0 = main
	src    netip.Addr
	rule   bool // the "not fwmark lookup table" rule of prefix's family
	mark   uint32
}

func (c change) String() string {
	switch {
	case c.rule:
		return fmt.Sprintf("rule not fwmark %#x lookup %d (%s)", c.mark, c.table, familyName(c.prefix.Addr()))
	case c.route && c.table != 0:
		return fmt.Sprintf("route %s table %d", c.prefix, c.table)
	case c.route:
		return "route " + c.prefix.String()
	}
	return "address " + c.prefix.String()
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// TUN is a kernel TUN interface configured by Open. It implements Device by forwarding to
// wireguard-go's device. Read and Write follow the package's concurrency contract (one
// reader, one writer, concurrently); every other method is safe for concurrent use.
type TUN struct {
	Device // the wireguard-go device; TUN overrides Events and Close

	log     *zap.Logger
	name    string
	index   int  // interface index (Linux, Windows); 0 when unknown
	offload bool // the kernel accepted virtio-net-header offloads
	events  chan Event
	evDone  chan struct{} // closed when the event forwarder has stopped

	mu    sync.Mutex
	added []change // what configure and UpdateRoutes added, in order; Close removes it in reverse

	// The policy table and mark of Open's PolicyRoutes; 0 when Open had none (then the data
	// plane's sockets carry no mark and UpdateRoutes cannot add policy routes).
	policyTable, policyMark uint32

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open creates the TUN device described by opts, sets its MTU, brings it up, assigns the
// addresses and installs the routes. On any failure it undoes what it had done and returns
// an error naming the address or route that failed.
func Open(opts Options, log *zap.Logger) (*TUN, error) {
	if log == nil {
		log = zap.NewNop()
	}
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	dev, offload, err := createDevice(opts, log)
	if err != nil {
		return nil, err
	}
	name, err := dev.Name()
	if err != nil {
		_ = dev.Close()
		return nil, fmt.Errorf("tun: device name: %w", err)
	}
	t := &TUN{
		Device:  dev,
		log:     log.With(zap.String("dev", name)),
		name:    name,
		offload: offload,
		events:  make(chan Event, 16),
		evDone:  make(chan struct{}),
	}
	if len(opts.PolicyRoutes) > 0 {
		t.policyTable, t.policyMark = opts.Table, opts.FwMark
	}
	go t.forwardEvents(dev.Events())
	if err := t.configure(opts); err != nil {
		if cerr := t.Close(); cerr != nil {
			t.log.Warn("tun: cleanup after failed open", zap.Error(cerr))
		}
		return nil, err
	}
	t.log.Info("tun: device up",
		zap.Int("mtu", opts.MTU),
		zap.Bool("offload", offload),
		zap.Int("batch", dev.BatchSize()),
		zap.Stringers("addresses", opts.Addresses),
		zap.Stringers("routes", opts.Routes),
		zap.Stringers("policy_routes", opts.PolicyRoutes))
	return t, nil
}

// Offload reports whether the kernel accepted virtio-net-header offloads for this device
// (TSO/USO split on Read, GRO on Write, BatchSize() > 1).
func (t *TUN) Offload() bool { return t.offload }

// Read reads a batch of packets (see Device). Once Close has begun it fails with
// os.ErrClosed, whatever wireguard-go's device reports (on Linux that may be the error of its
// netlink listener shutting down), so the reader has one signal to stop on.
func (t *TUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := t.Device.Read(bufs, sizes, offset)
	if err != nil && t.closing.Load() {
		return 0, os.ErrClosed
	}
	return n, err
}

// Events returns the device's event channel. Events are forwarded from wireguard-go's
// device without ever blocking it: when nobody reads, the oldest undelivered event is
// dropped. The channel is closed by Close.
func (t *TUN) Events() <-chan Event { return t.events }

// Close removes the routes and addresses Open added (and only those), then closes the
// device. It is safe to call more than once and from any goroutine; later calls return the
// first call's result.
func (t *TUN) Close() error {
	t.closeOnce.Do(func() {
		t.closing.Store(true)
		t.mu.Lock()
		added := t.added
		t.added = nil
		t.mu.Unlock()
		var errs []error
		for i := len(added) - 1; i >= 0; i-- {
			if err := t.undo(added[i]); err != nil {
				errs = append(errs, fmt.Errorf("tun: remove %v from %s: %w", added[i], t.name, err))
			}
		}
		if err := t.Device.Close(); err != nil {
			errs = append(errs, fmt.Errorf("tun: close %s: %w", t.name, err))
		}
		select { // the device closes its event channel when it has stopped
		case <-t.evDone:
		case <-time.After(5 * time.Second):
			t.log.Warn("tun: device event channel still open 5 s after close")
		}
		t.closeErr = errors.Join(errs...)
		if t.closeErr != nil {
			t.log.Warn("tun: close", zap.Error(t.closeErr))
		} else {
			t.log.Info("tun: device closed")
		}
	})
	return t.closeErr
}

// record notes a change configure made, for Close to undo.
func (t *TUN) record(c change) {
	t.mu.Lock()
	t.added = append(t.added, c)
	t.mu.Unlock()
}

// forwardEvents copies the device's events to t.events without ever blocking the device's
// own listener goroutines (wireguard-go's Linux device stalls if its events go unread).
func (t *TUN) forwardEvents(in <-chan Event) {
	defer close(t.evDone)
	defer close(t.events)
	for ev := range in {
		select {
		case t.events <- ev:
			continue
		default:
		}
		select { // full: drop the oldest, then try again once
		case <-t.events:
		default:
		}
		select {
		case t.events <- ev:
		default:
		}
	}
}

// normalize fills in defaults and validates opts; the returned copy owns its slices.
func (o Options) normalize() (Options, error) {
	if o.MTU == 0 {
		o.MTU = DefaultMTU
	}
	hasV6 := false
	addrs := make([]netip.Prefix, 0, len(o.Addresses))
	for _, p := range o.Addresses {
		if !p.IsValid() {
			return o, fmt.Errorf("tun: invalid address %v", p)
		}
		if q := unmapPrefix(p); q.IsValid() {
			p = q
		} else {
			return o, fmt.Errorf("tun: invalid address %v", p)
		}
		if p.Addr().Zone() != "" {
			return o, fmt.Errorf("tun: address %v: zones are not supported", p)
		}
		hasV6 = hasV6 || p.Addr().Is6()
		if !slices.Contains(addrs, p) {
			addrs = append(addrs, p)
		}
	}
	routes := make([]netip.Prefix, 0, len(o.Routes))
	for _, p := range o.Routes {
		if !p.IsValid() {
			return o, fmt.Errorf("tun: invalid route %v", p)
		}
		if q := unmapPrefix(p); q.IsValid() {
			p = q
		} else {
			return o, fmt.Errorf("tun: invalid route %v", p)
		}
		if p.Masked() != p {
			return o, fmt.Errorf("tun: route %v has host bits set (did you mean %v?)", p, p.Masked())
		}
		hasV6 = hasV6 || p.Addr().Is6()
		if !slices.Contains(routes, p) {
			routes = append(routes, p)
		}
	}
	minMTU := 576 // RFC 791: every IPv4 host must accept 576-byte datagrams
	for _, r := range o.PolicyRoutes {
		hasV6 = hasV6 || r.Prefix.IsValid() && r.Prefix.Addr().Is6()
	}
	if hasV6 {
		minMTU = 1280 // RFC 8200 §5: the IPv6 minimum link MTU
	}
	if o.MTU < minMTU || o.MTU > 65535 {
		return o, fmt.Errorf("tun: MTU %d out of range [%d, 65535]", o.MTU, minMTU)
	}
	policy := make([]PolicyRoute, 0, len(o.PolicyRoutes))
	for _, r := range o.PolicyRoutes {
		if !r.Prefix.IsValid() || r.Prefix.Masked() != r.Prefix || r.Src.IsValid() && r.Src.Is4() != r.Prefix.Addr().Is4() {
			return o, fmt.Errorf("tun: invalid policy route %v", r)
		}
		if !slices.Contains(policy, r) {
			policy = append(policy, r)
		}
	}
	if len(policy) > 0 && (o.FwMark == 0 || o.Table == 0 || o.Table == 253 || o.Table == 254 || o.Table == 255) {
		return o, fmt.Errorf("tun: policy routes need a non-zero fwmark and a table other than default/main/local")
	}
	o.PolicyRoutes = policy
	o.Addresses, o.Routes = addrs, routes
	return o, nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/96+n) into the IPv4 prefix
// a.b.c.d/n; a mapped prefix shorter than /96 is not an IPv4 prefix and comes back invalid.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() {
		return p
	}
	if p.Bits() < 96 {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
}

// offloadWarned makes the "kernel refused offloads" warning appear once per process.
var offloadWarned atomic.Bool

func warnOffloadRefused(log *zap.Logger, err error) {
	if offloadWarned.CompareAndSwap(false, true) {
		log.Warn("tun: kernel refused virtio-net-header offloads; opening the device without them (batch size 1)", zap.Error(err))
		return
	}
	log.Debug("tun: kernel refused virtio-net-header offloads", zap.Error(err))
}

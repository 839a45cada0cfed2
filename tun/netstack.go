package tun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// NetstackOptions configures the unprivileged userspace network stack.
type NetstackOptions struct {
	// Addresses of this site inside the tunnel (at least one; IPv4 and/or IPv6). The stack
	// owns them and sends everything else out through the device.
	Addresses []netip.Addr
	// MTU of the device; 0 means DefaultMTU. Must be >= 1280 with an IPv6 address, >= 576
	// otherwise, and <= 65535.
	MTU int
	// UDPIdleTimeout ends a UDP session of Forward or Expose (one per client address) after
	// this long without a datagram in either direction; 0 means 60 s. (A SOCKS5 UDP
	// association lasts as long as its TCP control connection instead, RFC 1928 §7.)
	UDPIdleTimeout time.Duration
	// VirtualIPs says that addresses arrive while the stack runs (AddAddress: a remote-access
	// client's virtual IPs): Addresses may then be empty, and Forward does not require an
	// address of its target's family when it starts.
	VirtualIPs bool
}

const (
	defaultUDPIdleTimeout = 60 * time.Second
	// maxConnsPerService bounds the connections (or UDP sessions) one listener keeps open,
	// so a flood of clients cannot exhaust memory or ports.
	maxConnsPerService = 1024
	// dialTimeout bounds a connection attempt across the tunnel (a SYN the far side never
	// answers would otherwise wait for the stack's full retransmission schedule).
	dialTimeout = 30 * time.Second
	// handshakeTimeout bounds the SOCKS5 negotiation of one client.
	handshakeTimeout = 10 * time.Second
)

// Netstack is a Device backed by gVisor's userspace TCP/IP stack: the data plane writes the
// packets it decrypts into it and reads from it the packets to encrypt, while local
// applications reach the tunnel through the services it runs (ServeSOCKS5, Forward,
// Expose). Read and Write follow the package's concurrency contract; every other method is
// safe for concurrent use.
type Netstack struct {
	Device // wireguard-go's netstack device; Netstack overrides Close

	tnet    *netstack.Net
	stack   *stack.Stack // behind tnet (netstack_addr.go)
	log     *zap.Logger
	addrs   []netip.Addr // the addresses it was opened with (immutable)
	mtu     int
	udpIdle time.Duration
	vips    bool

	amu   sync.Mutex
	added []netip.Addr // by AddAddress, newest first

	dns dnsState // the gateway's DNS servers, a cache, counters (resolve.go)

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the services started

	mu      sync.Mutex
	closing bool
	open    map[io.Closer]struct{} // listeners and connections Close must close

	closeOnce sync.Once
	closeErr  error
}

// OpenNetstack creates the userspace stack with the given addresses. It needs no privileges.
func OpenNetstack(opts NetstackOptions, log *zap.Logger) (*Netstack, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if len(opts.Addresses) == 0 && !opts.VirtualIPs {
		return nil, errors.New("tun: netstack needs at least one address")
	}
	if opts.MTU == 0 {
		opts.MTU = DefaultMTU
	}
	if opts.UDPIdleTimeout <= 0 {
		opts.UDPIdleTimeout = defaultUDPIdleTimeout
	}
	minMTU := 576
	var addrs []netip.Addr
	for _, a := range opts.Addresses {
		if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" {
			return nil, fmt.Errorf("tun: netstack: invalid address %v", a)
		}
		a = a.Unmap()
		if a.Is6() {
			minMTU = 1280 // RFC 8200 §5
		}
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	if opts.MTU < minMTU || opts.MTU > 65535 {
		return nil, fmt.Errorf("tun: netstack: MTU %d out of range [%d, 65535]", opts.MTU, minMTU)
	}
	dev, tnet, err := netstack.CreateNetTUN(addrs, nil, opts.MTU)
	if err != nil {
		return nil, fmt.Errorf("tun: netstack: %w", err)
	}
	st, err := gvisorStack(tnet)
	if err != nil {
		_ = dev.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Netstack{
		Device:  dev,
		tnet:    tnet,
		stack:   st,
		log:     log,
		addrs:   addrs,
		mtu:     opts.MTU,
		vips:    opts.VirtualIPs,
		udpIdle: opts.UDPIdleTimeout,
		ctx:     ctx,
		cancel:  cancel,
		open:    make(map[io.Closer]struct{}),
	}
	log.Info("tun: netstack up", zap.Stringers("addresses", addrs), zap.Int("mtu", opts.MTU))
	return n, nil
}

// Net returns the stack's socket API (dial and listen inside the tunnel).
func (n *Netstack) Net() *netstack.Net { return n.tnet }

// Addresses returns the stack's own addresses: those added at run time (newest first), then
// those it was opened with.
func (n *Netstack) Addresses() []netip.Addr {
	n.amu.Lock()
	defer n.amu.Unlock()
	return append(slices.Clone(n.added), n.addrs...)
}

// Close stops every service and connection the Netstack started, waits for their
// goroutines, then closes the stack. Packets the stack emits meanwhile are read and
// discarded, so Close does not depend on the data plane still reading. It is safe to call
// more than once; the data plane's writer must have stopped first.
func (n *Netstack) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closing = true
		open := n.open
		n.open = nil
		n.mu.Unlock()
		n.cancel()

		// gVisor hands each outgoing packet to an unbuffered channel that only Read empties;
		// closing connections sends FINs and RSTs, so keep reading until the device closes.
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			bufs, sizes := [][]byte{make([]byte, 65535)}, []int{0}
			for {
				if _, err := n.Device.Read(bufs, sizes, 0); err != nil {
					return
				}
			}
		}()
		for c := range open {
			_ = c.Close()
		}
		n.wg.Wait()
		n.closeErr = n.Device.Close()
		<-drained
		n.log.Info("tun: netstack closed")
	})
	return n.closeErr
}

// track registers c to be closed by Close. If Close has begun, it closes c at once and
// returns false.
func (n *Netstack) track(c io.Closer) bool {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		_ = c.Close()
		return false
	}
	n.open[c] = struct{}{}
	n.mu.Unlock()
	return true
}

func (n *Netstack) isClosing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closing
}

// untrack forgets c (after closing it itself).
func (n *Netstack) untrack(c io.Closer) {
	n.mu.Lock()
	delete(n.open, c)
	n.mu.Unlock()
}

// closeAndUntrack closes c and forgets it.
func (n *Netstack) closeAndUntrack(c io.Closer) {
	_ = c.Close()
	n.untrack(c)
}

// goroutine runs f on a goroutine Close waits for; it returns false (and does not run f)
// once Close has begun.
func (n *Netstack) goroutine(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// serviceContext returns a context canceled when parent is or when the Netstack closes.
func (n *Netstack) serviceContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(n.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// addrFor returns the stack's preferred address of a's family: the newest added one, else
// the first it was opened with.
func (n *Netstack) addrFor(a netip.Addr) (netip.Addr, bool) {
	for _, l := range n.Addresses() {
		if l.Is4() == a.Is4() {
			return l, true
		}
	}
	return netip.Addr{}, false
}

// serveListener runs an accept loop on ln until ctx ends or Close, handing each connection
// to handle on a goroutine of its own (at most maxConnsPerService at once).
func (n *Netstack) serveListener(ctx context.Context, stop func(), ln net.Listener, log *zap.Logger, handle func(ctx context.Context, c net.Conn)) error {
	if !n.track(ln) {
		stop()
		return errors.New("tun: netstack is closed")
	}
	closeLn := context.AfterFunc(ctx, func() { n.closeAndUntrack(ln) })
	started := n.goroutine(func() {
		defer stop()
		defer closeLn()
		defer n.closeAndUntrack(ln)
		slots := make(chan struct{}, maxConnsPerService)
		var backoff time.Duration
		for {
			c, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || n.isClosing() {
					return
				}
				// Out of file descriptors and the like: wait and try again.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				log.Warn("tun: accept failed; retrying", zap.Error(err), zap.Duration("backoff", backoff))
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				continue
			}
			backoff = 0
			select {
			case slots <- struct{}{}:
			default:
				log.Warn("tun: too many connections; refusing one", zap.Stringer("client", c.RemoteAddr()), zap.Int("limit", maxConnsPerService))
				_ = c.Close()
				continue
			}
			if !n.track(c) {
				return
			}
			ok := n.goroutine(func() {
				defer func() { <-slots }()
				defer n.closeAndUntrack(c)
				handle(ctx, c)
			})
			if !ok {
				n.closeAndUntrack(c)
				return
			}
		}
	})
	if !started {
		closeLn()
		n.closeAndUntrack(ln)
		stop()
		return errors.New("tun: netstack is closed")
	}
	return nil
}

// closeWriter is a connection that can send FIN while still reading.
type closeWriter interface{ CloseWrite() error }

// splice copies both ways between a and b until both directions end, passing a half-close
// on, then closes both. It returns the bytes copied a→b and b→a.
func splice(a, b net.Conn) (ab, ba int64) {
	half := func(dst, src net.Conn, n *int64) {
		buf := copyBufs.Get().(*[]byte)
		*n, _ = io.CopyBuffer(dst, src, *buf)
		copyBufs.Put(buf)
		if cw, ok := dst.(closeWriter); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		half(b, a, &ab)
	}()
	half(a, b, &ba)
	<-done
	_ = a.Close()
	_ = b.Close()
	return ab, ba
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// parseProto checks a forwarding protocol name.
func parseProto(proto string) (string, error) {
	switch proto {
	case "tcp", "udp":
		return proto, nil
	}
	return "", fmt.Errorf("tun: unknown protocol %q (want tcp or udp)", proto)
}

// tunnelAddrPort parses a tunnel-side address: an IP literal and a port, no names (there
// is no DNS inside the tunnel).
func tunnelAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("tun: %q is not IP:port (names cannot be resolved inside the tunnel): %w", s, err)
	}
	if ap.Addr().Zone() != "" {
		return ap, fmt.Errorf("tun: %q: zones are not supported inside the tunnel", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// logDialError describes a failed connection attempt (the logger carries the target).
func logDialError(log *zap.Logger, msg string, err error, started time.Time) {
	log.Info(msg, zap.Duration("after", time.Since(started)), zap.Error(err))
}

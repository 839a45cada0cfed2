package tun

// Port forwards between the host's network and the tunnel, in both directions: Forward
// listens on the host and connects inside the tunnel; Expose listens inside the tunnel and
// connects on the host. TCP connections are spliced; UDP is relayed per client address
// with sessions that expire when idle.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Forward listens on the host's network at listen and carries each TCP connection or UDP
// client to `to`, an IP:port across the tunnel. It returns the bound address; the forward
// runs until ctx ends or the Netstack closes.
func (n *Netstack) Forward(ctx context.Context, proto, listen, to string) (net.Addr, error) {
	proto, err := parseProto(proto)
	if err != nil {
		return nil, err
	}
	dst, err := tunnelAddrPort(to)
	if err != nil {
		return nil, fmt.Errorf("tun: forward to: %w", err)
	}
	if _, ok := n.addrFor(dst.Addr()); !ok && !n.vips {
		return nil, fmt.Errorf("tun: forward to %v: the tunnel has no address of that family", dst)
	}
	log := n.log.With(zap.String("service", "forward"), zap.String("proto", proto), zap.Stringer("to", dst))
	sctx, stop := n.serviceContext(ctx)
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", listen)
		if err != nil {
			stop()
			return nil, fmt.Errorf("tun: forward: listen udp %s: %w", listen, err)
		}
		log = log.With(zap.Stringer("listen", pc.LocalAddr()))
		dial := func(context.Context) (net.Conn, error) {
			return n.tnet.DialUDPAddrPort(netip.AddrPort{}, dst)
		}
		if err := n.serveUDP(sctx, stop, pc, dial, log); err != nil {
			return nil, err
		}
		log.Info("tun: forward listening")
		return pc.LocalAddr(), nil
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		stop()
		return nil, fmt.Errorf("tun: forward: listen tcp %s: %w", listen, err)
	}
	log = log.With(zap.Stringer("listen", ln.Addr()))
	dial := func(ctx context.Context) (net.Conn, error) {
		return n.tnet.DialContextTCPAddrPort(ctx, dst)
	}
	if err := n.serveListener(sctx, stop, ln, log, func(ctx context.Context, c net.Conn) {
		n.relayTCP(ctx, c, dial, log)
	}); err != nil {
		return nil, err
	}
	log.Info("tun: forward listening")
	return ln.Addr(), nil
}

// Expose listens inside the tunnel at listen (one of the Netstack's addresses and a port)
// and carries each TCP connection or UDP client to the host service `to`. It returns the
// bound address; the listener lives until ctx ends or the Netstack closes.
func (n *Netstack) Expose(ctx context.Context, proto, listen, to string) (net.Addr, error) {
	proto, err := parseProto(proto)
	if err != nil {
		return nil, err
	}
	at, err := tunnelAddrPort(listen)
	if err != nil {
		return nil, fmt.Errorf("tun: expose listen: %w", err)
	}
	if !slices.Contains(n.addrs, at.Addr()) {
		return nil, fmt.Errorf("tun: expose: %v is not an address of the netstack (it has %v)", at.Addr(), n.addrs)
	}
	log := n.log.With(zap.String("service", "expose"), zap.String("proto", proto), zap.String("to", to))
	sctx, stop := n.serviceContext(ctx)
	var d net.Dialer
	dial := func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, proto, to) }
	if proto == "udp" {
		pc, err := n.tnet.ListenUDPAddrPort(at)
		if err != nil {
			stop()
			return nil, fmt.Errorf("tun: expose: listen udp %v in the tunnel: %w", at, err)
		}
		log = log.With(zap.Stringer("listen", pc.LocalAddr()))
		if err := n.serveUDP(sctx, stop, pc, dial, log); err != nil {
			return nil, err
		}
		log.Info("tun: expose listening")
		return pc.LocalAddr(), nil
	}
	ln, err := n.tnet.ListenTCPAddrPort(at)
	if err != nil {
		stop()
		return nil, fmt.Errorf("tun: expose: listen tcp %v in the tunnel: %w", at, err)
	}
	log = log.With(zap.Stringer("listen", ln.Addr()))
	if err := n.serveListener(sctx, stop, ln, log, func(ctx context.Context, c net.Conn) {
		n.relayTCP(ctx, c, dial, log)
	}); err != nil {
		return nil, err
	}
	log.Info("tun: expose listening")
	return ln.Addr(), nil
}

// relayTCP connects to the far side for one accepted connection and splices the two.
func (n *Netstack) relayTCP(ctx context.Context, c net.Conn, dial func(context.Context) (net.Conn, error), log *zap.Logger) {
	log = log.With(zap.Stringer("client", c.RemoteAddr()))
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	started := time.Now()
	up, err := dial(dctx)
	cancel()
	if err != nil {
		logDialError(log, "tun: connect failed; closing the client connection", err, started)
		return
	}
	if !n.track(up) {
		return
	}
	defer n.closeAndUntrack(up)
	sent, recvd := splice(c, up)
	log.Debug("tun: connection closed", zap.Int64("sent", sent), zap.Int64("received", recvd))
}

// udpSession is one client's flow: the connected socket toward the far side and the time
// of its last datagram in either direction (unix nanoseconds).
type udpSession struct {
	client net.Addr
	up     net.Conn
	last   atomic.Int64
}

// serveUDP relays datagrams between the clients of pc and the far side, one session (one
// socket from dial) per client address. A session ends after n.udpIdle without traffic.
func (n *Netstack) serveUDP(ctx context.Context, stop func(), pc net.PacketConn, dial func(context.Context) (net.Conn, error), log *zap.Logger) error {
	if !n.track(pc) {
		stop()
		return errors.New("tun: netstack is closed")
	}
	var mu sync.Mutex
	sessions := make(map[string]*udpSession)
	end := func(s *udpSession) {
		mu.Lock()
		if sessions[s.client.String()] == s {
			delete(sessions, s.client.String())
		}
		mu.Unlock()
		n.closeAndUntrack(s.up)
	}
	closePC := context.AfterFunc(ctx, func() { n.closeAndUntrack(pc) })

	// The janitor ends idle sessions.
	janitor := func() {
		t := time.NewTicker(max(n.udpIdle/4, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				var idle []*udpSession
				mu.Lock()
				for _, s := range sessions {
					if now.UnixNano()-s.last.Load() > int64(n.udpIdle) {
						idle = append(idle, s)
					}
				}
				mu.Unlock()
				for _, s := range idle {
					log.Debug("tun: UDP session idle; closing", zap.Stringer("client", s.client))
					end(s)
				}
			}
		}
	}

	// fromClients reads the listening socket and feeds the sessions.
	fromClients := func() {
		defer stop()
		defer closePC()
		defer n.closeAndUntrack(pc)
		defer func() {
			mu.Lock()
			all := sessions
			sessions = map[string]*udpSession{}
			mu.Unlock()
			for _, s := range all {
				n.closeAndUntrack(s.up)
			}
		}()
		buf := make([]byte, 65535)
		for {
			nr, from, err := pc.ReadFrom(buf)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					log.Warn("tun: UDP receive failed; service stopped", zap.Error(err))
				}
				return
			}
			key := from.String()
			mu.Lock()
			s := sessions[key]
			full := len(sessions) >= maxConnsPerService
			mu.Unlock()
			if s == nil {
				if full {
					log.Warn("tun: too many UDP sessions; dropping a datagram", zap.Stringer("client", from), zap.Int("limit", maxConnsPerService))
					continue
				}
				s = n.newUDPSession(ctx, pc, from, dial, end, log)
				if s == nil {
					continue
				}
				mu.Lock()
				sessions[key] = s
				mu.Unlock()
			}
			s.last.Store(time.Now().UnixNano())
			if _, err := s.up.Write(buf[:nr]); err != nil {
				log.Debug("tun: UDP send failed", zap.Stringer("client", from), zap.Error(err))
			}
		}
	}
	if !n.goroutine(janitor) || !n.goroutine(fromClients) {
		closePC()
		n.closeAndUntrack(pc)
		stop()
		return errors.New("tun: netstack is closed")
	}
	return nil
}

// newUDPSession dials the far side for a new client and starts the goroutine that carries
// the answers back; nil if the dial fails.
func (n *Netstack) newUDPSession(ctx context.Context, pc net.PacketConn, client net.Addr, dial func(context.Context) (net.Conn, error), end func(*udpSession), log *zap.Logger) *udpSession {
	started := time.Now()
	up, err := dial(ctx)
	if err != nil {
		logDialError(log.With(zap.Stringer("client", client)), "tun: UDP session: connect failed", err, started)
		return nil
	}
	if !n.track(up) {
		return nil
	}
	s := &udpSession{client: client, up: up}
	s.last.Store(time.Now().UnixNano())
	ok := n.goroutine(func() {
		defer end(s)
		buf := make([]byte, 65535)
		for {
			nr, err := up.Read(buf)
			if err != nil {
				return
			}
			s.last.Store(time.Now().UnixNano())
			if _, err := pc.WriteTo(buf[:nr], client); err != nil {
				log.Debug("tun: UDP reply to the client failed", zap.Stringer("client", client), zap.Error(err))
			}
		}
	})
	if !ok {
		n.closeAndUntrack(up)
		return nil
	}
	log.Debug("tun: UDP session open", zap.Stringer("client", client))
	return s
}

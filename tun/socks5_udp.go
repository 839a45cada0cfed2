package tun

// SOCKS5 UDP ASSOCIATE (RFC 1928 §7): the client sends datagrams, each behind a small
// header naming its destination, to a relay port on the proxy; the proxy sends them through
// the tunnel and wraps each answer in the same header naming its source. The association
// lives as long as the TCP connection that asked for it.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// socksUDPHeaderMax is the longest RSV FRAG ATYP DST.ADDR DST.PORT header we write (IPv6).
const socksUDPHeaderMax = 2 + 1 + 1 + 16 + 2

// parseUDPHeader splits a client datagram (RFC 1928 §7) into FRAG, destination and data.
func parseUDPHeader(b []byte) (frag byte, dst socksAddr, data []byte, err error) {
	if len(b) < 4 {
		return 0, dst, nil, errors.New("tun: socks5: short UDP header")
	}
	if b[0] != 0 || b[1] != 0 {
		return 0, dst, nil, errors.New("tun: socks5: UDP header reserved bytes not zero")
	}
	r := bytes.NewReader(b[3:])
	dst, err = readAddr(r)
	if err != nil {
		return 0, dst, nil, err
	}
	return b[2], dst, b[len(b)-r.Len():], nil
}

// socksAssoc is one UDP association. fromClient runs on one goroutine, each upstream reader
// on another; mu guards the fields they share.
type socksAssoc struct {
	n        *Netstack
	log      *zap.Logger
	relay    *net.UDPConn
	clientIP netip.Addr
	wantPort uint16 // DST.PORT of the request: the client's source port, 0 if unknown

	mu         sync.Mutex
	client     netip.AddrPort          // where answers go, learned from the first datagram
	up         map[bool]net.PacketConn // tunnel sockets by "is IPv4"
	warnedName bool
	closed     bool
}

// socksAssociate handles UDP ASSOCIATE: open the relay port on the address the client
// reached us at, reply with it, and relay until the control connection closes.
func (n *Netstack) socksAssociate(ctx context.Context, c net.Conn, req socksRequest, log *zap.Logger) {
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	remote, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	relay, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local.Addr(), 0)))
	if err != nil {
		log.Warn("tun: socks5: cannot open the UDP relay port", zap.Error(err))
		_ = writeReply(c, socksGeneralFailure, netip.AddrPort{})
		return
	}
	if !n.track(relay) {
		return
	}
	a := &socksAssoc{
		n:        n,
		log:      log,
		relay:    relay,
		clientIP: remote.Addr().Unmap(),
		up:       make(map[bool]net.PacketConn),
	}
	if ip, ok := req.dst.resolve(); ok && ip.Addr().Unmap() == a.clientIP {
		a.wantPort = ip.Port()
	}
	defer a.close()
	bnd, _ := netip.ParseAddrPort(relay.LocalAddr().String())
	if err := writeReply(c, socksSucceeded, bnd); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	log.Debug("tun: socks5: UDP association open", zap.Stringer("relay", bnd))
	if !n.goroutine(a.fromClient) {
		return
	}
	// RFC 1928 §7: the association ends when the TCP connection it arrived on does.
	_, _ = io.Copy(io.Discard, c)
	log.Debug("tun: socks5: UDP association closed")
}

func (a *socksAssoc) close() {
	a.mu.Lock()
	a.closed = true
	ups := a.up
	a.up = nil
	a.mu.Unlock()
	a.n.closeAndUntrack(a.relay)
	for _, pc := range ups {
		a.n.closeAndUntrack(pc)
	}
}

// fromClient relays the client's datagrams into the tunnel.
func (a *socksAssoc) fromClient() {
	buf := make([]byte, 65535)
	for {
		nr, src, err := a.relay.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if src.Addr() != a.clientIP || (a.wantPort != 0 && src.Port() != a.wantPort) {
			continue // RFC 1928 §7: only the client that asked may use the relay
		}
		frag, dst, data, err := parseUDPHeader(buf[:nr])
		if err != nil {
			a.log.Debug("tun: socks5: dropping a malformed UDP datagram", zap.Error(err))
			continue
		}
		if frag != 0 {
			continue // RFC 1928 §7: no fragmentation support, so drop fragments
		}
		target, ok := a.resolve(dst)
		if !ok {
			continue
		}
		pc := a.upstream(src, target.Addr())
		if pc == nil {
			continue
		}
		if _, err := pc.WriteTo(data, net.UDPAddrFromAddrPort(target)); err != nil {
			a.log.Debug("tun: socks5: UDP send through the tunnel failed", zap.Stringer("target", target), zap.Error(err))
		}
	}
}

// resolve turns a datagram's destination into an IP target: a name with the pushed DNS
// servers (from the cache, or a bounded lookup that holds up only this association's
// datagrams). Datagrams to names that do not resolve are dropped.
func (a *socksAssoc) resolve(dst socksAddr) (netip.AddrPort, bool) {
	if ap, ok := dst.resolve(); ok {
		return ap, true
	}
	targets, err := a.n.resolveTarget(a.n.ctx, dst)
	if err == nil {
		for _, t := range targets {
			if _, ok := a.n.addrFor(t.Addr()); ok {
				return t, true
			}
		}
		err = ErrNameNotFound
	}
	a.mu.Lock()
	warn := !a.warnedName
	a.warnedName = true
	a.mu.Unlock()
	if warn {
		msg := "tun: socks5: dropping UDP datagrams to a name that does not resolve"
		if errors.Is(err, ErrNoDNS) {
			msg = "tun: socks5: dropping UDP datagrams to a domain name: the gateway pushed no DNS server"
		}
		a.log.Info(msg, zap.String("name", dst.name), zap.Error(err))
	}
	return netip.AddrPort{}, false
}

// upstream returns the tunnel socket for dst's family, opening it (and its reader) on first
// use; nil if the tunnel has no address of that family.
func (a *socksAssoc) upstream(client netip.AddrPort, dst netip.Addr) net.PacketConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.client = client
	if pc := a.up[dst.Is4()]; pc != nil {
		return pc
	}
	local, ok := a.n.addrFor(dst)
	if !ok {
		a.log.Debug("tun: socks5: the tunnel has no address of the datagram's family", zap.Stringer("target", dst))
		return nil
	}
	pc, err := a.n.tnet.ListenUDPAddrPort(netip.AddrPortFrom(local, 0))
	if err != nil {
		a.log.Warn("tun: socks5: cannot open a UDP socket in the tunnel", zap.Error(err))
		return nil
	}
	if !a.n.track(pc) {
		return nil
	}
	if !a.n.goroutine(func() { a.toClient(pc) }) {
		a.n.closeAndUntrack(pc)
		return nil
	}
	a.up[dst.Is4()] = pc
	return pc
}

// toClient relays answers from the tunnel back to the client, each behind a header naming
// its source.
func (a *socksAssoc) toClient(pc net.PacketConn) {
	buf := make([]byte, socksUDPHeaderMax+65535)
	for {
		nr, from, err := pc.ReadFrom(buf[socksUDPHeaderMax:])
		if err != nil {
			return
		}
		src, err := netip.ParseAddrPort(from.String())
		if err != nil {
			continue
		}
		var hdr [socksUDPHeaderMax]byte
		h := appendAddr(append(hdr[:0], 0, 0, 0), src)
		start := socksUDPHeaderMax - len(h)
		copy(buf[start:], h)
		a.mu.Lock()
		client := a.client
		a.mu.Unlock()
		if _, err := a.relay.WriteToUDPAddrPort(buf[start:socksUDPHeaderMax+nr], client); err != nil {
			a.log.Debug("tun: socks5: UDP send to the client failed", zap.Error(err))
		}
	}
}

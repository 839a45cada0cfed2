package tun

// A SOCKS version 5 proxy (RFC 1928) whose outgoing connections and datagrams go through the
// tunnel. Only the "no authentication required" method is offered: the proxy is meant to
// listen on loopback or a pod-local address.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// RFC 1928 §3: version, methods.
const (
	socksVersion       = 5
	socksMethodNoAuth  = 0x00
	socksMethodNoneOK  = 0xff // NO ACCEPTABLE METHODS
	socksCmdConnect    = 1
	socksCmdBind       = 2
	socksCmdAssociate  = 3
	socksAtypIPv4      = 1
	socksAtypDomain    = 3
	socksAtypIPv6      = 4
	socksMaxRequestLen = 4 + 1 + 255 + 2
)

// RFC 1928 §6: reply field values.
const (
	socksSucceeded           = 0x00
	socksGeneralFailure      = 0x01
	socksNotAllowed          = 0x02
	socksNetworkUnreachable  = 0x03
	socksHostUnreachable     = 0x04
	socksConnectionRefused   = 0x05
	socksTTLExpired          = 0x06
	socksCommandNotSupported = 0x07
	socksAddrNotSupported    = 0x08
)

// errSocksAddrType is a request whose ATYP is none of IPv4, DOMAINNAME, IPv6.
var errSocksAddrType = errors.New("tun: socks5: unsupported address type")

// socksAddr is DST.ADDR/DST.PORT of a request or a UDP header: an IP address or a name.
type socksAddr struct {
	ip   netip.Addr
	name string // set when ATYP was DOMAINNAME
	port uint16
}

func (a socksAddr) String() string {
	if a.name != "" {
		return net.JoinHostPort(a.name, fmt.Sprint(a.port))
	}
	return netip.AddrPortFrom(a.ip, a.port).String()
}

// resolve turns the address into an IP target when it is one: an IP address, or a
// DOMAINNAME that is an IP literal. Other names are resolved with the DNS
// servers the gateway pushed (resolve.go), never the host's resolver, which would answer
// for the wrong network.
func (a socksAddr) resolve() (netip.AddrPort, bool) {
	if a.name == "" {
		return netip.AddrPortFrom(a.ip.Unmap(), a.port), true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(a.name, "["), "]"))
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), a.port), true
}

// socksRequest is a parsed request (RFC 1928 §4).
type socksRequest struct {
	cmd byte
	dst socksAddr
}

// readGreeting reads the version identifier/method selection message (RFC 1928 §3) and
// reports whether the client offers "no authentication required".
func readGreeting(r io.Reader) (bool, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return false, err
	}
	if hdr[0] != socksVersion {
		return false, fmt.Errorf("tun: socks5: version %d", hdr[0])
	}
	var methods [255]byte
	if _, err := io.ReadFull(r, methods[:hdr[1]]); err != nil {
		return false, err
	}
	for _, m := range methods[:hdr[1]] {
		if m == socksMethodNoAuth {
			return true, nil
		}
	}
	return false, nil
}

// readAddr reads ATYP, DST.ADDR and DST.PORT (RFC 1928 §4, §5).
func readAddr(r io.Reader) (socksAddr, error) {
	var buf [1 + 255 + 2]byte
	if _, err := io.ReadFull(r, buf[:1]); err != nil {
		return socksAddr{}, err
	}
	var a socksAddr
	switch buf[0] {
	case socksAtypIPv4:
		if _, err := io.ReadFull(r, buf[:4+2]); err != nil {
			return a, err
		}
		a.ip = netip.AddrFrom4([4]byte(buf[:4]))
		a.port = binary.BigEndian.Uint16(buf[4:])
	case socksAtypIPv6:
		if _, err := io.ReadFull(r, buf[:16+2]); err != nil {
			return a, err
		}
		a.ip = netip.AddrFrom16([16]byte(buf[:16]))
		a.port = binary.BigEndian.Uint16(buf[16:])
	case socksAtypDomain:
		if _, err := io.ReadFull(r, buf[:1]); err != nil {
			return a, err
		}
		l := int(buf[0])
		if l == 0 {
			return a, errors.New("tun: socks5: empty domain name")
		}
		if _, err := io.ReadFull(r, buf[:l+2]); err != nil {
			return a, err
		}
		a.name = string(buf[:l])
		a.port = binary.BigEndian.Uint16(buf[l:])
	default:
		return a, errSocksAddrType
	}
	return a, nil
}

// readRequest reads a request (RFC 1928 §4): VER CMD RSV ATYP DST.ADDR DST.PORT.
func readRequest(r io.Reader) (socksRequest, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return socksRequest{}, err
	}
	if hdr[0] != socksVersion {
		return socksRequest{}, fmt.Errorf("tun: socks5: request version %d", hdr[0])
	}
	dst, err := readAddr(r)
	return socksRequest{cmd: hdr[1], dst: dst}, err
}

// appendAddr appends ATYP, address and port for an IP address.
func appendAddr(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	switch {
	case a.Is4():
		b = append(b, socksAtypIPv4)
		b = append(b, a.AsSlice()...)
	case a.Is6():
		b = append(b, socksAtypIPv6)
		b = append(b, a.AsSlice()...)
	default:
		b = append(b, socksAtypIPv4, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

// appendReply builds a reply (RFC 1928 §6): VER REP RSV ATYP BND.ADDR BND.PORT.
func appendReply(b []byte, rep byte, bnd netip.AddrPort) []byte {
	return appendAddr(append(b, socksVersion, rep, 0), bnd)
}

func writeReply(c net.Conn, rep byte, bnd netip.AddrPort) error {
	_, err := c.Write(appendReply(make([]byte, 0, 22), rep, bnd))
	return err
}

// dialReplyCode maps a failed dial through the tunnel to a reply code (RFC 1928 §6).
func dialReplyCode(err error) byte {
	if errors.Is(err, context.DeadlineExceeded) {
		return socksHostUnreachable // no answer at all: treat like an unreachable host
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return socksHostUnreachable
	}
	msg := err.Error()
	for _, m := range []struct {
		terr tcpip.Error
		code byte
	}{
		{&tcpip.ErrConnectionRefused{}, socksConnectionRefused},
		{&tcpip.ErrHostUnreachable{}, socksHostUnreachable},
		{&tcpip.ErrNetworkUnreachable{}, socksNetworkUnreachable},
		{&tcpip.ErrTimeout{}, socksHostUnreachable},
		{&tcpip.ErrConnectionReset{}, socksConnectionRefused},
	} {
		if strings.HasSuffix(msg, m.terr.String()) {
			return m.code
		}
	}
	return socksGeneralFailure
}

// ServeSOCKS5 starts a SOCKS5 proxy listening on the host's network at listen (e.g.
// "127.0.0.1:1080") whose CONNECT and UDP ASSOCIATE traffic goes through the tunnel. It
// returns the bound address; the proxy runs until ctx ends or the Netstack closes.
func (n *Netstack) ServeSOCKS5(ctx context.Context, listen string) (net.Addr, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("tun: socks5: listen %s: %w", listen, err)
	}
	log := n.log.With(zap.String("service", "socks5"), zap.Stringer("listen", ln.Addr()))
	sctx, stop := n.serviceContext(ctx)
	if err := n.serveListener(sctx, stop, ln, log, func(ctx context.Context, c net.Conn) {
		n.serveSOCKSConn(ctx, c, log.With(zap.Stringer("client", c.RemoteAddr())))
	}); err != nil {
		return nil, err
	}
	log.Info("tun: socks5 proxy listening")
	return ln.Addr(), nil
}

// serveSOCKSConn negotiates with one client and carries out its request.
func (n *Netstack) serveSOCKSConn(ctx context.Context, c net.Conn, log *zap.Logger) {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	ok, err := readGreeting(c)
	if err != nil {
		log.Debug("tun: socks5: bad greeting", zap.Error(err))
		return
	}
	if !ok {
		log.Info("tun: socks5: client offers no acceptable authentication method (only no-auth is supported)")
		_, _ = c.Write([]byte{socksVersion, socksMethodNoneOK})
		return
	}
	if _, err := c.Write([]byte{socksVersion, socksMethodNoAuth}); err != nil {
		return
	}
	req, err := readRequest(c)
	if errors.Is(err, errSocksAddrType) {
		_ = writeReply(c, socksAddrNotSupported, netip.AddrPort{})
		log.Info("tun: socks5: unsupported address type")
		return
	}
	if err != nil {
		log.Debug("tun: socks5: bad request", zap.Error(err))
		return
	}
	log = log.With(zap.Stringer("target", req.dst))
	switch req.cmd {
	case socksCmdConnect:
		n.socksConnect(ctx, c, req, log)
	case socksCmdAssociate:
		n.socksAssociate(ctx, c, req, log)
	default:
		log.Info("tun: socks5: unsupported command", zap.Uint8("cmd", req.cmd))
		_ = writeReply(c, socksCommandNotSupported, netip.AddrPort{})
	}
}

// socksConnect handles CONNECT (RFC 1928 §4): dial the target through the tunnel (a name
// resolved with the gateway's DNS servers, its addresses tried in turn), reply, then relay
// both ways.
func (n *Netstack) socksConnect(ctx context.Context, c net.Conn, req socksRequest, log *zap.Logger) {
	started := time.Now()
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	// The lookup and the dial may outlast the negotiation's deadline: the reply must still
	// reach the client.
	_ = c.SetDeadline(started.Add(dialTimeout + handshakeTimeout))
	dsts, err := n.resolveTarget(dctx, req.dst)
	if errors.Is(err, ErrNoDNS) {
		log.Info("tun: socks5: cannot resolve a domain name: the gateway pushed no DNS server; use an IP address")
		_ = writeReply(c, socksHostUnreachable, netip.AddrPort{})
		return
	}
	if err != nil {
		log.Info("tun: socks5: resolving the name through the tunnel failed", zap.Duration("after", time.Since(started)), zap.Error(err))
		_ = writeReply(c, lookupReplyCode(err), netip.AddrPort{})
		return
	}
	var up net.Conn
	code := byte(socksNetworkUnreachable)
	for _, dst := range dsts {
		if _, ok := n.addrFor(dst.Addr()); !ok {
			continue
		}
		tc, err := n.tnet.DialContextTCPAddrPort(dctx, dst)
		if err == nil {
			up = tc
			break
		}
		code = dialReplyCode(err)
		logDialError(log.With(zap.Stringer("address", dst)), "tun: socks5: connect through the tunnel failed", err, started)
		if dctx.Err() != nil {
			break
		}
	}
	cancel()
	if up == nil {
		if code == socksNetworkUnreachable {
			log.Info("tun: socks5: the tunnel has no address of the target's family")
		}
		_ = writeReply(c, code, netip.AddrPort{})
		return
	}
	if !n.track(up) {
		return
	}
	defer n.closeAndUntrack(up)
	bnd, _ := netip.ParseAddrPort(up.LocalAddr().String())
	if err := writeReply(c, socksSucceeded, bnd); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	log.Debug("tun: socks5: connected", zap.Stringer("address", up.RemoteAddr()))
	sent, recvd := splice(c, up)
	log.Debug("tun: socks5: connection closed", zap.Int64("sent", sent), zap.Int64("received", recvd))
}

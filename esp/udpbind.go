//go:build !linux

package esp

// PlainBind is the portable conn.Bind used where UDPBind's Linux system calls are not
// available: one datagram per system call through the net package. Safe for concurrent use:
// one goroutine per receive function, any number of senders.

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
)

// NewUDPBind returns the data plane's sockets (see udpbind_linux.go for Linux).
func NewUDPBind(offload bool, socketBuffer int) conn.Bind {
	return &PlainBind{SocketBuffer: socketBuffer}
}

// PlainBind implements conn.Bind without batching or offloads.
type PlainBind struct {
	SocketBuffer int

	mu sync.Mutex
	v4 *net.UDPConn
	v6 *net.UDPConn
}

// PlainEndpoint is a PlainBind peer.
type PlainEndpoint struct{ netip.AddrPort }

func (e PlainEndpoint) ClearSrc()           {}
func (e PlainEndpoint) SrcToString() string { return "" }
func (e PlainEndpoint) DstToString() string { return e.AddrPort.String() }
func (e PlainEndpoint) DstToBytes() []byte  { b, _ := e.AddrPort.MarshalBinary(); return b }
func (e PlainEndpoint) DstIP() netip.Addr   { return e.Addr() }
func (e PlainEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }
func (e PlainEndpoint) Port() uint16        { return e.AddrPort.Port() }

// Open listens on port for IPv4 and, where available, IPv6.
func (b *PlainBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v4 != nil || b.v6 != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	v4, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
	if err != nil {
		return nil, 0, err
	}
	port = uint16(v4.LocalAddr().(*net.UDPAddr).Port)
	b.v4 = v4
	fns := []conn.ReceiveFunc{b.receiveFrom(v4)}
	if v6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: int(port)}); err == nil {
		b.v6 = v6
		fns = append(fns, b.receiveFrom(v6))
	}
	for _, c := range []*net.UDPConn{b.v4, b.v6} {
		if c != nil && b.SocketBuffer > 0 {
			_ = c.SetReadBuffer(b.SocketBuffer)
			_ = c.SetWriteBuffer(b.SocketBuffer)
		}
	}
	return fns, port, nil
}

func (b *PlainBind) receiveFrom(c *net.UDPConn) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, ap, err := c.ReadFromUDPAddrPort(packets[0])
		if err != nil {
			return 0, err
		}
		sizes[0], eps[0] = n, PlainEndpoint{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
		return 1, nil
	}
}

// Close closes the sockets; receive functions then return net.ErrClosed.
func (b *PlainBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	for _, c := range []*net.UDPConn{b.v4, b.v6} {
		if c != nil {
			err = errors.Join(err, c.Close())
		}
	}
	b.v4, b.v6 = nil, nil
	return err
}

// SetMark is a no-op: SO_MARK is a Linux socket option.
func (b *PlainBind) SetMark(uint32) error { return nil }

// BatchSize is one datagram per call.
func (b *PlainBind) BatchSize() int { return 1 }

// ParseEndpoint parses "address:port".
func (b *PlainBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return PlainEndpoint{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

// Send writes each buffer as one datagram to ep.
func (b *PlainBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	ap, err := netip.ParseAddrPort(ep.DstToString())
	if err != nil {
		return err
	}
	b.mu.Lock()
	c := b.v4
	if ap.Addr().Is6() {
		c = b.v6
	}
	b.mu.Unlock()
	if c == nil {
		return net.ErrClosed
	}
	for _, p := range bufs {
		if _, err := c.WriteToUDPAddrPort(p, ap); err != nil {
			return err
		}
	}
	return nil
}

package esp

import (
	"net"
	"net/netip"
	"os"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
)

// memPool recycles packet copies so the in-memory network allocates nothing in steady state
// (consumers that keep a packet simply never return it).
var memPool = sync.Pool{New: func() any { return new([65536]byte) }}

func memCopy(p []byte) []byte {
	a := memPool.Get().(*[65536]byte)
	return a[:copy(a[:], p)]
}

func memFree(p []byte) {
	if cap(p) == 65536 {
		memPool.Put((*[65536]byte)(p[:65536]))
	}
}

// memDevice is an in-memory Device: tests push packets into In (the host sending into the
// tunnel) and read what the tunnel delivers from Out.
type memDevice struct {
	In     chan []byte
	Out    chan []byte
	closed chan struct{}
	once   sync.Once
	batch  int
}

func newMemDevice(batch int) *memDevice {
	return &memDevice{In: make(chan []byte, 4096), Out: make(chan []byte, 4096), closed: make(chan struct{}), batch: batch}
}

func (m *memDevice) BatchSize() int { return m.batch }

func (m *memDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n := 0
	select {
	case <-m.closed:
		return 0, os.ErrClosed
	case p := <-m.In:
		sizes[0] = copy(bufs[0][offset:], p)
		n = 1
	}
	for n < len(bufs) {
		select {
		case p := <-m.In:
			sizes[n] = copy(bufs[n][offset:], p)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (m *memDevice) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		select {
		case <-m.closed:
			return i, os.ErrClosed
		case m.Out <- memCopy(b[offset:]):
		}
	}
	return len(bufs), nil
}

func (m *memDevice) Close() { m.once.Do(func() { close(m.closed) }) }

// memEndpoint addresses a memBind.
type memEndpoint struct{ ap netip.AddrPort }

func (e memEndpoint) ClearSrc()           {}
func (e memEndpoint) SrcToString() string { return "" }
func (e memEndpoint) DstToString() string { return e.ap.String() }
func (e memEndpoint) DstToBytes() []byte  { b, _ := e.ap.MarshalBinary(); return b }
func (e memEndpoint) DstIP() netip.Addr   { return e.ap.Addr() }
func (e memEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }
func (e memEndpoint) Port() uint16        { return e.ap.Port() }

type memDatagram struct {
	from netip.AddrPort
	data []byte
}

// memNet joins memBinds by address:port.
type memNet struct {
	mu    sync.Mutex
	binds map[netip.AddrPort]*memBind
}

func newMemNet() *memNet { return &memNet{binds: map[netip.AddrPort]*memBind{}} }

// memBind is a conn.Bind on an in-memory network, with batch receive.
type memBind struct {
	net    *memNet
	addr   netip.Addr
	port   uint16
	rx     chan memDatagram
	closed chan struct{}
	once   sync.Once
	batch  int
	drop   func([]byte) bool // optional: drop (or tamper with) datagrams on receive
	eps    map[netip.AddrPort]conn.Endpoint
	// uncached boxes a fresh endpoint per datagram instead of keeping one per source, so a
	// flood from many sources leaves no state in the test network itself.
	uncached bool
}

// endpoint returns one boxed endpoint per peer (boxing per datagram would allocate).
func (b *memBind) endpoint(ap netip.AddrPort) conn.Endpoint {
	if b.uncached {
		return memEndpoint{ap}
	}
	if ep, ok := b.eps[ap]; ok {
		return ep
	}
	if b.eps == nil {
		b.eps = map[netip.AddrPort]conn.Endpoint{}
	}
	ep := memEndpoint{ap}
	b.eps[ap] = ep
	return ep
}

func (n *memNet) bind(addr string, batch int) *memBind {
	return &memBind{net: n, addr: netip.MustParseAddr(addr), batch: batch}
}

func (b *memBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.port = port
	b.rx = make(chan memDatagram, 8192)
	b.closed = make(chan struct{})
	b.net.mu.Lock()
	b.net.binds[netip.AddrPortFrom(b.addr, port)] = b
	b.net.mu.Unlock()
	return []conn.ReceiveFunc{b.receive}, port, nil
}

func (b *memBind) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	n := 0
	take := func(d memDatagram) {
		sizes[n] = copy(bufs[n], d.data)
		eps[n] = b.endpoint(d.from)
		memFree(d.data)
		n++
	}
	select {
	case <-b.closed:
		return 0, net.ErrClosed
	case d := <-b.rx:
		take(d)
	}
	for n < len(bufs) {
		select {
		case d := <-b.rx:
			take(d)
		default:
			return n, nil
		}
	}
	return n, nil
}

func (b *memBind) Close() error {
	b.once.Do(func() {
		if b.closed != nil {
			close(b.closed)
		}
	})
	return nil
}

func (b *memBind) SetMark(uint32) error { return nil }
func (b *memBind) BatchSize() int       { return b.batch }

func (b *memBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	return memEndpoint{ap}, err
}

func (b *memBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	to := ep.(memEndpoint).ap
	b.net.mu.Lock()
	dst := b.net.binds[to]
	b.net.mu.Unlock()
	if dst == nil {
		return nil // nobody listening: the datagram is lost, as on a real network
	}
	for _, p := range bufs {
		c := memCopy(p)
		if dst.drop != nil && dst.drop(c) {
			continue
		}
		select {
		case dst.rx <- memDatagram{from: netip.AddrPortFrom(b.addr, b.port), data: c}:
		case <-dst.closed:
		}
	}
	return nil
}

// inject delivers a datagram to b as if it came from any address (spoofed sources).
func (b *memBind) inject(from netip.AddrPort, p []byte) {
	select {
	case b.rx <- memDatagram{from: from, data: memCopy(p)}:
	case <-b.closed:
	}
}

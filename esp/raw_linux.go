package esp

// Raw ESP and AH sockets (IP protocols 50 and 51), for encap = "raw". Linux delivers the
// IPv4 header on raw IPv4 sockets and strips it on IPv6 ones; AH over IPv4 is sent with
// IP_HDRINCL because its ICV covers the header we build (identification included), AH over
// IPv6 leaves the header to the kernel and pins the source address with IPV6_PKTINFO.

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

const rawBatch = 32

type rawSock struct {
	fd   int
	kind srcKind
	v6   bool
	mu   sync.Mutex // serialises sends
}

type rawSockets struct {
	esp4, ah4, esp6, ah6 *rawSock
	closed               atomic.Bool
}

type rawReceiver struct {
	fn   conn.ReceiveFunc
	kind srcKind
}

func openRawSock(family, proto int, kind srcKind) (*rawSock, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, err
	}
	// A receive timeout lets the reader notice Close without depending on fd-close wakeups.
	tv := unix.NsecToTimeval(int64(500 * time.Millisecond))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	return &rawSock{fd: fd, kind: kind, v6: family == unix.AF_INET6}, nil
}

func openRaw() (*rawSockets, error) {
	r := &rawSockets{}
	var err error
	if r.esp4, err = openRawSock(unix.AF_INET, ProtoESPNum, srcESP4); err != nil {
		return nil, fmt.Errorf("esp: raw ESP socket (needs CAP_NET_RAW): %w", err)
	}
	if r.ah4, err = openRawSock(unix.AF_INET, ProtoAHNum, srcAH4); err != nil {
		r.close()
		return nil, fmt.Errorf("esp: raw AH socket: %w", err)
	}
	if err := unix.SetsockoptInt(r.ah4.fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		r.close()
		return nil, fmt.Errorf("esp: IP_HDRINCL: %w", err)
	}
	// IPv6 is optional: a host without it still carries IPv4.
	if s, err := openRawSock(unix.AF_INET6, ProtoESPNum, srcESP6); err == nil {
		r.esp6 = s
	}
	if s, err := openRawSock(unix.AF_INET6, ProtoAHNum, srcAH6); err == nil {
		r.ah6 = s
	}
	return r, nil
}

func (r *rawSockets) all() []*rawSock {
	var out []*rawSock
	for _, s := range []*rawSock{r.esp4, r.ah4, r.esp6, r.ah6} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (r *rawSockets) receivers() []rawReceiver {
	var out []rawReceiver
	for _, s := range r.all() {
		out = append(out, rawReceiver{fn: r.receiveFunc(s), kind: s.kind})
	}
	return out
}

// receiveFunc reads up to len(packets) datagrams: the first blocking, the rest only while
// more are queued.
func (r *rawSockets) receiveFunc(s *rawSock) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n := 0
		for n < len(packets) {
			flags := 0
			if n > 0 {
				flags = unix.MSG_DONTWAIT
			}
			size, from, err := unix.Recvfrom(s.fd, packets[n], flags)
			if err != nil {
				if r.closed.Load() {
					return n, errClosedRaw
				}
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					if n > 0 {
						return n, nil
					}
					continue
				}
				return n, err
			}
			sizes[n] = size
			eps[n] = rawEndpoint{addr: sockaddrAddr(from)}
			n++
		}
		return n, nil
	}
}

var errClosedRaw = fmt.Errorf("esp: raw socket: %w", errNetClosed)

func sockaddrAddr(sa unix.Sockaddr) netip.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr)
	}
	return netip.Addr{}
}

// send writes ESP or AH packets to dst. AH packets carry their outer header (see ah.go).
func (r *rawSockets) send(pkts [][]byte, dst netip.Addr, proto Protocol) error {
	var s *rawSock
	switch {
	case proto == ESP && dst.Is4():
		s = r.esp4
	case proto == ESP:
		s = r.esp6
	case dst.Is4():
		s = r.ah4
	default:
		s = r.ah6
	}
	if s == nil {
		return errors.New("esp: no raw IPv6 socket")
	}
	var to unix.Sockaddr
	if dst.Is4() {
		to = &unix.SockaddrInet4{Addr: dst.As4()}
	} else {
		to = &unix.SockaddrInet6{Addr: dst.As16()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pkts {
		var err error
		if proto == AH && s.v6 {
			// The kernel builds the IPv6 header; pin its source to the one the ICV covers.
			if len(p) < 40 {
				continue
			}
			pi := unix.Inet6Pktinfo{Addr: [16]byte(p[8:24])}
			oob := unix.PktInfo6(&pi)
			err = unix.Sendmsg(s.fd, p[40:], oob, to, 0)
		} else {
			err = unix.Sendto(s.fd, p, 0, to)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *rawSockets) close() {
	if !r.closed.CompareAndSwap(false, true) {
		return
	}
	for _, s := range r.all() {
		unix.Close(s.fd)
	}
}

// setMark sets SO_MARK on every raw socket (see Options.FwMark).
func (r *rawSockets) setMark(mark uint32) error {
	for _, s := range r.all() {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			return fmt.Errorf("esp: SO_MARK on raw socket: %w", err)
		}
	}
	return nil
}

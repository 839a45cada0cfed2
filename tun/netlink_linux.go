package tun

// A minimal rtnetlink client (RFC 3549 describes the protocol; the message layouts are the
// kernel's uapi headers linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h). One request is
// in flight per socket; every request asks for an acknowledgement, and the reply is parsed
// with bounds checks against the bytes actually received.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// nlmsgerrAttrMsg is NLMSGERR_ATTR_MSG (linux/netlink.h): the extended-ack error string.
const nlmsgerrAttrMsg = 1

var nlSeq atomic.Uint32

// nlConn is an rtnetlink socket. It is not safe for concurrent use.
type nlConn struct {
	fd int
}

func dialNetlink() (*nlConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("tun: netlink socket: %w", err)
	}
	// Error strings from the kernel (extended ack) make errors say what was wrong; capped
	// acks keep the kernel from echoing our request back. Both are best effort.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: netlink bind: %w", err)
	}
	return &nlConn{fd: fd}, nil
}

func (c *nlConn) Close() error { return unix.Close(c.fd) }

// nlRequest builds one netlink message: header, fixed family header, attributes.
type nlRequest struct {
	b []byte
}

func newRequest(typ, flags uint16, family []byte) *nlRequest {
	r := &nlRequest{b: make([]byte, unix.SizeofNlMsghdr, 128)}
	binary.NativeEndian.PutUint16(r.b[4:], typ)
	binary.NativeEndian.PutUint16(r.b[6:], flags|unix.NLM_F_REQUEST)
	r.b = append(r.b, family...)
	r.pad()
	return r
}

func (r *nlRequest) pad() {
	for len(r.b)%unix.NLMSG_ALIGNTO != 0 {
		r.b = append(r.b, 0)
	}
}

// attr appends one rtattr (struct rtattr: u16 len, u16 type, payload, padded to 4).
func (r *nlRequest) attr(typ uint16, data []byte) {
	var h [unix.SizeofRtAttr]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	r.b = append(r.b, h[:]...)
	r.b = append(r.b, data...)
	r.pad()
}

func (r *nlRequest) attrU32(typ uint16, v uint32) {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	r.attr(typ, b[:])
}

// nlMessage is one parsed netlink message; data is the payload after the 16-byte header.
type nlMessage struct {
	typ   uint16
	flags uint16
	seq   uint32
	pid   uint32
	data  []byte
}

// parseNetlinkMessages splits a datagram into messages (struct nlmsghdr, NLMSG_ALIGN'd). It
// never reads outside b and rejects a header whose length is short or overruns b.
func parseNetlinkMessages(b []byte) ([]nlMessage, error) {
	var msgs []nlMessage
	for len(b) > 0 {
		if len(b) < unix.SizeofNlMsghdr {
			return nil, errors.New("tun: netlink: truncated message header")
		}
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return nil, fmt.Errorf("tun: netlink: bad message length %d (%d bytes left)", l, len(b))
		}
		msgs = append(msgs, nlMessage{
			typ:   binary.NativeEndian.Uint16(b[4:6]),
			flags: binary.NativeEndian.Uint16(b[6:8]),
			seq:   binary.NativeEndian.Uint32(b[8:12]),
			pid:   binary.NativeEndian.Uint32(b[12:16]),
			data:  b[unix.SizeofNlMsghdr:l],
		})
		al := nlAlign(l)
		if al >= len(b) {
			break
		}
		b = b[al:]
	}
	return msgs, nil
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// parseAttrs walks a run of rtattrs and calls fn for each; it stops with an error at the
// first malformed one and never reads outside b.
func parseAttrs(b []byte, fn func(typ uint16, data []byte)) error {
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < unix.SizeofRtAttr || l > len(b) {
			return fmt.Errorf("tun: netlink: bad attribute length %d (%d bytes left)", l, len(b))
		}
		fn(binary.NativeEndian.Uint16(b[2:4])&^unix.NLA_F_NESTED, b[unix.SizeofRtAttr:l])
		al := nlAlign(l)
		if al >= len(b) {
			return nil
		}
		b = b[al:]
	}
	return nil
}

// nlError is a negative acknowledgement from the kernel.
type nlError struct {
	errno unix.Errno
	msg   string // extended-ack message, may be empty
}

func (e *nlError) Error() string {
	if e.msg != "" {
		return e.errno.Error() + " (" + e.msg + ")"
	}
	return e.errno.Error()
}

func (e *nlError) Unwrap() error { return e.errno }

// parseAck decodes an NLMSG_ERROR payload (struct nlmsgerr): a zero error is an ack.
func parseAck(m nlMessage) error {
	if len(m.data) < 4 {
		return errors.New("tun: netlink: truncated error message")
	}
	code := int32(binary.NativeEndian.Uint32(m.data[0:4]))
	if code == 0 {
		return nil
	}
	e := &nlError{errno: unix.Errno(-code)}
	if m.flags&unix.NLM_F_ACK_TLVS != 0 && len(m.data) >= 4+unix.SizeofNlMsghdr {
		off := 4 + unix.SizeofNlMsghdr // capped: only the original header is echoed
		if m.flags&unix.NLM_F_CAPPED == 0 {
			off = 4 + nlAlign(int(binary.NativeEndian.Uint32(m.data[4:8])))
		}
		if off <= len(m.data) {
			_ = parseAttrs(m.data[off:], func(typ uint16, data []byte) {
				if typ == nlmsgerrAttrMsg {
					e.msg = cString(data)
				}
			})
		}
	}
	return e
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// do sends req and collects the replies: for a dump, every message up to NLMSG_DONE; for
// any other request, the acknowledgement (plus a reply message when the request has one).
func (c *nlConn) do(req *nlRequest) ([]nlMessage, error) {
	seq := nlSeq.Add(1)
	binary.NativeEndian.PutUint32(req.b[0:], uint32(len(req.b)))
	binary.NativeEndian.PutUint32(req.b[8:], seq)
	dump := binary.NativeEndian.Uint16(req.b[6:])&unix.NLM_F_DUMP == unix.NLM_F_DUMP
	if err := unix.Sendto(c.fd, req.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("tun: netlink send: %w", err)
	}
	var out []nlMessage
	buf := make([]byte, 1<<16)
	for {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("tun: netlink receive: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		msgs, err := parseNetlinkMessages(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue // a late reply to an earlier request
			}
			switch m.typ {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if err := parseAck(m); err != nil {
					return nil, err
				}
				if !dump {
					return out, nil
				}
			default:
				m.data = append([]byte(nil), m.data...) // buf is reused
				out = append(out, m)
			}
		}
	}
}

func familyOf(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// setLinkUp sets IFF_UP on the interface (RTM_NEWLINK with ifi_change = IFF_UP).
func (c *nlConn) setLinkUp(index int) error {
	ifi := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(ifi[4:], uint32(index))
	binary.NativeEndian.PutUint32(ifi[8:], unix.IFF_UP)  // ifi_flags
	binary.NativeEndian.PutUint32(ifi[12:], unix.IFF_UP) // ifi_change
	_, err := c.do(newRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK, ifi))
	return err
}

// linkMTU reads IFLA_MTU of the interface.
func (c *nlConn) linkMTU(index int) (int, error) {
	ifi := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(ifi[4:], uint32(index))
	msgs, err := c.do(newRequest(unix.RTM_GETLINK, unix.NLM_F_ACK, ifi))
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if m.typ != unix.RTM_NEWLINK || len(m.data) < unix.SizeofIfInfomsg {
			continue
		}
		mtu := 0
		err := parseAttrs(m.data[unix.SizeofIfInfomsg:], func(typ uint16, data []byte) {
			if typ == unix.IFLA_MTU && len(data) >= 4 {
				mtu = int(binary.NativeEndian.Uint32(data))
			}
		})
		if err != nil {
			return 0, err
		}
		if mtu > 0 {
			return mtu, nil
		}
	}
	return 0, fmt.Errorf("tun: netlink: interface %d reported no MTU", index)
}

// ifaddrmsg builds struct ifaddrmsg for p on the interface.
func ifaddrmsg(index int, p netip.Prefix, flags uint8) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = familyOf(p.Addr())
	b[1] = uint8(p.Bits())
	b[2] = flags
	b[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	return b
}

// addAddr assigns p to the interface (RTM_NEWADDR). IPv6 addresses skip duplicate address
// detection (IFA_F_NODAD), as on any point-to-point tunnel, so they are usable at once.
func (c *nlConn) addAddr(index int, p netip.Prefix) error {
	var flags uint8
	if p.Addr().Is6() {
		flags = unix.IFA_F_NODAD
	}
	req := newRequest(unix.RTM_NEWADDR, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifaddrmsg(index, p, flags))
	req.attr(unix.IFA_LOCAL, p.Addr().AsSlice())
	req.attr(unix.IFA_ADDRESS, p.Addr().AsSlice())
	_, err := c.do(req)
	return err
}

// delAddr removes p from the interface (RTM_DELADDR).
func (c *nlConn) delAddr(index int, p netip.Prefix) error {
	req := newRequest(unix.RTM_DELADDR, unix.NLM_F_ACK, ifaddrmsg(index, p, 0))
	req.attr(unix.IFA_LOCAL, p.Addr().AsSlice())
	req.attr(unix.IFA_ADDRESS, p.Addr().AsSlice())
	_, err := c.do(req)
	return err
}

// listAddrs dumps the addresses of the interface (RTM_GETADDR, NLM_F_DUMP).
func (c *nlConn) listAddrs(index int) ([]netip.Prefix, error) {
	msgs, err := c.do(newRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP, make([]byte, unix.SizeofIfAddrmsg)))
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, m := range msgs {
		if m.typ != unix.RTM_NEWADDR || len(m.data) < unix.SizeofIfAddrmsg {
			continue
		}
		if int(binary.NativeEndian.Uint32(m.data[4:8])) != index {
			continue
		}
		bits := int(m.data[1])
		var local, address netip.Addr
		err := parseAttrs(m.data[unix.SizeofIfAddrmsg:], func(typ uint16, data []byte) {
			a, ok := netip.AddrFromSlice(data)
			switch {
			case !ok:
			case typ == unix.IFA_LOCAL:
				local = a
			case typ == unix.IFA_ADDRESS:
				address = a
			}
		})
		if err != nil {
			return nil, err
		}
		if local.IsValid() {
			address = local
		}
		if address.IsValid() {
			out = append(out, netip.PrefixFrom(address, bits))
		}
	}
	return out, nil
}

// rtmsg builds struct rtmsg for a route to p through an interface, in the main table.
func rtmsg(p netip.Prefix, scope uint8) []byte {
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = familyOf(p.Addr())
	b[1] = uint8(p.Bits())
	b[4] = unix.RT_TABLE_MAIN
	b[5] = unix.RTPROT_STATIC
	b[6] = scope
	b[7] = unix.RTN_UNICAST
	return b
}

// routeScope is what `ip route add PREFIX dev X` uses: link scope for a directly reachable
// IPv4 prefix; IPv6 routes always have universe scope.
func routeScope(p netip.Prefix) uint8 {
	if p.Addr().Is4() {
		return unix.RT_SCOPE_LINK
	}
	return unix.RT_SCOPE_UNIVERSE
}

// addRoute installs p through the interface (RTM_NEWROUTE, create, fail if it exists).
func (c *nlConn) addRoute(index int, p netip.Prefix) error { return c.addRouteTable(index, p, 0) }

// delRoute removes the route to p through this interface only: the kernel matches the
// output interface and protocol, so a route to the same prefix elsewhere is left alone.
func (c *nlConn) delRoute(index int, p netip.Prefix) error { return c.delRouteTable(index, p, 0) }

// addRouteTable installs p through the interface in a routing table (0 = main); tables
// above 255 travel in RTA_TABLE (linux/rtnetlink.h).
func (c *nlConn) addRouteTable(index int, p netip.Prefix, table uint32) error {
	return c.addRouteTableSrc(index, p, table, netip.Addr{})
}

// addRouteTableSrc is addRouteTable with a preferred source address (RTA_PREFSRC).
func (c *nlConn) addRouteTableSrc(index int, p netip.Prefix, table uint32, src netip.Addr) error {
	req := newRequest(unix.RTM_NEWROUTE, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL, rtmsgTable(p, routeScope(p), table))
	req.attr(unix.RTA_DST, p.Addr().AsSlice())
	req.attrU32(unix.RTA_OIF, uint32(index))
	if src.IsValid() {
		req.attr(unix.RTA_PREFSRC, src.AsSlice())
	}
	if table > 255 {
		req.attrU32(unix.RTA_TABLE, table)
	}
	_, err := c.do(req)
	return err
}

func (c *nlConn) delRouteTable(index int, p netip.Prefix, table uint32) error {
	req := newRequest(unix.RTM_DELROUTE, unix.NLM_F_ACK, rtmsgTable(p, routeScope(p), table))
	req.attr(unix.RTA_DST, p.Addr().AsSlice())
	req.attrU32(unix.RTA_OIF, uint32(index))
	if table > 255 {
		req.attrU32(unix.RTA_TABLE, table)
	}
	_, err := c.do(req)
	return err
}

func rtmsgTable(p netip.Prefix, scope uint8, table uint32) []byte {
	b := rtmsg(p, scope)
	switch {
	case table == 0:
	case table > 255:
		b[4] = unix.RT_TABLE_UNSPEC
	default:
		b[4] = uint8(table)
	}
	return b
}

// rulePriority places oakley's rule before the main table's (32766).
const rulePriority = 32000

// ruleMsg builds the request for "not fwmark MARK lookup TABLE" in a family: struct
// fib_rule_hdr (linux/fib_rules.h) with FIB_RULE_INVERT and FR_ACT_TO_TBL, plus attributes.
func ruleMsg(typ, flags uint16, family uint8, mark, table uint32) *nlRequest {
	hdr := make([]byte, 12)
	hdr[0] = family
	hdr[4] = unix.RT_TABLE_UNSPEC
	hdr[7] = unix.FR_ACT_TO_TBL
	binary.NativeEndian.PutUint32(hdr[8:], unix.FIB_RULE_INVERT)
	req := newRequest(typ, flags, hdr)
	req.attrU32(unix.FRA_FWMARK, mark)
	req.attrU32(unix.FRA_FWMASK, 0xffffffff)
	req.attrU32(unix.FRA_TABLE, table)
	req.attrU32(unix.FRA_PRIORITY, rulePriority)
	return req
}

func (c *nlConn) addRule(family uint8, mark, table uint32) error {
	_, err := c.do(ruleMsg(unix.RTM_NEWRULE, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL, family, mark, table))
	return err
}

func (c *nlConn) delRule(family uint8, mark, table uint32) error {
	_, err := c.do(ruleMsg(unix.RTM_DELRULE, unix.NLM_F_ACK, family, mark, table))
	return err
}

// routeInfo is what a route dump or lookup tells about one route.
type routeInfo struct {
	dst   netip.Prefix
	typ   uint8 // rtm_type: RTN_UNICAST, RTN_LOCAL, ...
	oif   int
	table uint32
	mtu   int // RTAX_MTU from RTA_METRICS, 0 if none
}

// parseRoute decodes an RTM_NEWROUTE payload (struct rtmsg + attributes).
func parseRoute(data []byte) (routeInfo, error) {
	var r routeInfo
	if len(data) < unix.SizeofRtMsg {
		return r, errors.New("tun: netlink: truncated route message")
	}
	family, bits := data[0], int(data[1])
	r.table = uint32(data[4])
	r.typ = data[7]
	var dst netip.Addr
	var inner error
	err := parseAttrs(data[unix.SizeofRtMsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.RTA_DST:
			dst, _ = netip.AddrFromSlice(v)
		case unix.RTA_OIF:
			if len(v) >= 4 {
				r.oif = int(binary.NativeEndian.Uint32(v))
			}
		case unix.RTA_TABLE:
			if len(v) >= 4 {
				r.table = binary.NativeEndian.Uint32(v)
			}
		case unix.RTA_METRICS:
			inner = parseAttrs(v, func(typ uint16, m []byte) {
				if typ == unix.RTAX_MTU && len(m) >= 4 {
					r.mtu = int(binary.NativeEndian.Uint32(m))
				}
			})
		}
	})
	if err == nil {
		err = inner
	}
	if err != nil {
		return r, err
	}
	if !dst.IsValid() { // a default route carries no RTA_DST
		switch family {
		case unix.AF_INET:
			dst = netip.IPv4Unspecified()
		case unix.AF_INET6:
			dst = netip.IPv6Unspecified()
		default:
			return r, fmt.Errorf("tun: netlink: route of unknown family %d", family)
		}
	}
	if bits > dst.BitLen() {
		return r, fmt.Errorf("tun: netlink: route prefix length %d too long", bits)
	}
	r.dst = netip.PrefixFrom(dst, bits)
	return r, nil
}

// listRoutes dumps the main-table routes through the interface, both families.
func (c *nlConn) listRoutes(index int) ([]routeInfo, error) {
	var out []routeInfo
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		hdr := make([]byte, unix.SizeofRtMsg)
		hdr[0] = fam
		msgs, err := c.do(newRequest(unix.RTM_GETROUTE, unix.NLM_F_DUMP, hdr))
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.typ != unix.RTM_NEWROUTE {
				continue
			}
			r, err := parseRoute(m.data)
			if err != nil {
				return nil, err
			}
			if r.oif == index && r.table == unix.RT_TABLE_MAIN {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// getRoute asks the kernel which route it would use toward dst (RTM_GETROUTE for a single
// address, as `ip route get` does).
func (c *nlConn) getRoute(dst netip.Addr) (routeInfo, error) {
	hdr := make([]byte, unix.SizeofRtMsg)
	hdr[0] = familyOf(dst)
	hdr[1] = uint8(dst.BitLen())
	req := newRequest(unix.RTM_GETROUTE, unix.NLM_F_ACK, hdr)
	req.attr(unix.RTA_DST, dst.AsSlice())
	msgs, err := c.do(req)
	if err != nil {
		return routeInfo{}, err
	}
	for _, m := range msgs {
		if m.typ == unix.RTM_NEWROUTE {
			return parseRoute(m.data)
		}
	}
	return routeInfo{}, errors.New("tun: netlink: no route in reply")
}

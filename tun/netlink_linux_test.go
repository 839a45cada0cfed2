package tun

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsg frames payload as one netlink message of type typ.
func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(payload)+3)
	binary.NativeEndian.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(payload)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// routeMsg builds an RTM_NEWROUTE payload the way the kernel does, with a nested metrics
// attribute when mtu > 0.
func routeMsg(p netip.Prefix, oif int, mtu int) []byte {
	r := newRequest(0, 0, rtmsg(p, routeScope(p)))
	r.attr(unix.RTA_DST, p.Addr().AsSlice())
	r.attrU32(unix.RTA_OIF, uint32(oif))
	if mtu > 0 {
		inner := &nlRequest{}
		inner.attrU32(unix.RTAX_MTU, uint32(mtu))
		r.attr(unix.RTA_METRICS|unix.NLA_F_NESTED, inner.b)
	}
	return r.b[unix.SizeofNlMsghdr:]
}

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		p   netip.Prefix
		oif int
		mtu int
	}{
		{netip.MustParsePrefix("198.51.100.0/24"), 7, 0},
		{netip.MustParsePrefix("2001:db8::/32"), 3, 1280},
		{netip.MustParsePrefix("192.0.2.1/32"), 1, 9000},
	} {
		r, err := parseRoute(routeMsg(tc.p, tc.oif, tc.mtu))
		if err != nil || r.dst != tc.p || r.oif != tc.oif || r.mtu != tc.mtu || r.table != unix.RT_TABLE_MAIN {
			t.Errorf("parseRoute(%v) = %+v, %v", tc.p, r, err)
		}
	}
	// A default route has no RTA_DST.
	hdr := rtmsg(netip.MustParsePrefix("0.0.0.0/0"), 0)
	if r, err := parseRoute(hdr); err != nil || r.dst != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("default route = %+v, %v", r, err)
	}
	full := routeMsg(netip.MustParsePrefix("2001:db8::/32"), 3, 1280)
	for i := 0; i < len(full); i++ {
		if r, err := parseRoute(full[:i]); err == nil && r.mtu == 1280 {
			t.Errorf("a %d-byte prefix parsed completely: %+v", i, r)
		}
	}
	bad := routeMsg(netip.MustParsePrefix("192.0.2.0/24"), 1, 0)
	bad[1] = 33 // prefix length longer than the address
	if _, err := parseRoute(bad); err == nil {
		t.Error("a /33 IPv4 route parsed")
	}
}

func TestParseAck(t *testing.T) {
	ack := make([]byte, 4+unix.SizeofNlMsghdr)
	if err := parseAck(nlMessage{typ: unix.NLMSG_ERROR, data: ack}); err != nil {
		t.Errorf("zero error: %v", err)
	}
	nack := make([]byte, 4+unix.SizeofNlMsghdr)
	code := -int32(unix.EEXIST)
	binary.NativeEndian.PutUint32(nack, uint32(code))
	r := &nlRequest{b: nack}
	r.attr(nlmsgerrAttrMsg, append([]byte("File exists"), 0))
	err := parseAck(nlMessage{typ: unix.NLMSG_ERROR, flags: unix.NLM_F_CAPPED | unix.NLM_F_ACK_TLVS, data: r.b})
	var ne *nlError
	if !errors.Is(err, unix.EEXIST) || !errors.As(err, &ne) || ne.msg != "File exists" {
		t.Errorf("parseAck with extended ack = %v; want EEXIST with its message", err)
	}
	if err := parseAck(nlMessage{typ: unix.NLMSG_ERROR, data: []byte{1, 2}}); err == nil {
		t.Error("a truncated error message parsed")
	}
}

func TestParseNetlinkMessages(t *testing.T) {
	b := append(nlmsg(unix.RTM_NEWROUTE, unix.NLM_F_MULTI, 5, routeMsg(netip.MustParsePrefix("198.51.100.0/24"), 2, 0)),
		nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 5, []byte{0, 0, 0, 0})...)
	msgs, err := parseNetlinkMessages(b)
	if err != nil || len(msgs) != 2 || msgs[0].typ != unix.RTM_NEWROUTE || msgs[1].typ != unix.NLMSG_DONE || msgs[0].seq != 5 {
		t.Fatalf("parseNetlinkMessages = %+v, %v", msgs, err)
	}
	for i := 1; i < unix.SizeofNlMsghdr; i++ {
		if _, err := parseNetlinkMessages(b[:i]); err == nil {
			t.Errorf("a %d-byte header parsed", i)
		}
	}
	short := nlmsg(unix.NLMSG_DONE, 0, 1, nil)
	binary.NativeEndian.PutUint32(short, 8) // shorter than the header itself
	if _, err := parseNetlinkMessages(short); err == nil {
		t.Error("a message shorter than its header parsed")
	}
}

func FuzzParseNetlinkMessages(f *testing.F) {
	f.Add(nlmsg(unix.RTM_NEWROUTE, 0, 1, routeMsg(netip.MustParsePrefix("2001:db8::/32"), 3, 1280)))
	f.Add(nlmsg(unix.NLMSG_ERROR, unix.NLM_F_CAPPED|unix.NLM_F_ACK_TLVS, 1, make([]byte, 40)))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := parseNetlinkMessages(b)
		if err != nil {
			return
		}
		total := 0
		for _, m := range msgs {
			total += unix.SizeofNlMsghdr + len(m.data)
			switch m.typ {
			case unix.NLMSG_ERROR:
				_ = parseAck(m)
			case unix.RTM_NEWROUTE:
				if r, err := parseRoute(m.data); err == nil && r.dst.Bits() > r.dst.Addr().BitLen() {
					t.Fatalf("route %v with an impossible prefix", r.dst)
				}
			default:
				_ = parseAttrs(m.data, func(uint16, []byte) {})
			}
		}
		if total > len(b) {
			t.Fatalf("%d messages cover %d bytes of a %d-byte input", len(msgs), total, len(b))
		}
	})
}

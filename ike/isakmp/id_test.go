package isakmp

import (
	"errors"
	"net/netip"
	"testing"
)

func TestIDAddr(t *testing.T) {
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "::ffff:198.51.100.7"} {
		a := netip.MustParseAddr(s)
		id, err := IDFromAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		want := IDIPv4Addr // an IPv4-mapped address keeps its (IPv6) family
		if a.Is6() {
			want = IDIPv6Addr
		}
		if id.IDType != want || id.Validate() != nil {
			t.Fatalf("%s: %v %x", s, id.IDType, id.Data)
		}
		got, err := id.Addr()
		if err != nil || got != a {
			t.Fatalf("%s: Addr %v %v", s, got, err)
		}
		p, err := id.Prefix()
		if err != nil || p != netip.PrefixFrom(a, a.BitLen()) {
			t.Fatalf("%s: Prefix %v %v", s, p, err)
		}
		f, l, err := id.IPRange()
		if err != nil || f != a || l != a {
			t.Fatalf("%s: IPRange %v %v %v", s, f, l, err)
		}
	}
	if _, err := IDFromAddr(netip.Addr{}); !errors.Is(err, ErrInvalidID) {
		t.Fatal("invalid address accepted")
	}
}

func TestIDPrefix(t *testing.T) {
	cases := []struct {
		in          string
		typ         IDType
		data        string
		first, last string
	}{
		{"192.0.2.0/24", IDIPv4AddrSubnet, "c0000200 ffffff00", "192.0.2.0", "192.0.2.255"},
		{"192.0.2.77/24", IDIPv4AddrSubnet, "c0000200 ffffff00", "192.0.2.0", "192.0.2.255"},
		{"198.18.0.0/15", IDIPv4AddrSubnet, "c6120000 fffe0000", "198.18.0.0", "198.19.255.255"},
		{"0.0.0.0/0", IDIPv4AddrSubnet, "00000000 00000000", "0.0.0.0", "255.255.255.255"},
		{"192.0.2.1/32", IDIPv4AddrSubnet, "c0000201 ffffffff", "192.0.2.1", "192.0.2.1"},
		{"2001:db8::/32", IDIPv6AddrSubnet, "20010db8000000000000000000000000 ffffffff000000000000000000000000", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"::ffff:192.0.2.0/120", IDIPv6AddrSubnet, "00000000000000000000ffffc0000200 ffffffffffffffffffffffffffffff00", "::ffff:192.0.2.0", "::ffff:192.0.2.255"},
	}
	for _, c := range cases {
		id, err := IDFromPrefix(netip.MustParsePrefix(c.in))
		if err != nil {
			t.Fatal(err)
		}
		if id.IDType != c.typ || string(id.Data) != string(mustHex(t, c.data)) {
			t.Fatalf("%s: %v %x", c.in, id.IDType, id.Data)
		}
		p, err := id.Prefix()
		if err != nil || p != netip.MustParsePrefix(c.in).Masked() {
			t.Fatalf("%s: Prefix %v %v", c.in, p, err)
		}
		f, l, err := id.IPRange()
		if err != nil || f.String() != c.first || l.String() != c.last {
			t.Fatalf("%s: IPRange %v..%v %v", c.in, f, l, err)
		}
	}
	// Host bits as sent are kept by Prefix (Masked drops them), ignored by IPRange.
	id := &Identification{IDType: IDIPv4AddrSubnet, Data: mustHex(t, "c0000207 ffffff00")}
	if p, err := id.Prefix(); err != nil || p.String() != "192.0.2.7/24" {
		t.Fatalf("%v %v", p, err)
	}
	bad := []*Identification{
		{IDType: IDIPv4AddrSubnet, Data: mustHex(t, "c0000200 ff00ff00")}, // non-contiguous
		{IDType: IDIPv4AddrSubnet, Data: mustHex(t, "c0000200 fffffff1")}, // non-contiguous in the last byte
		{IDType: IDIPv4AddrSubnet, Data: mustHex(t, "c0000200 ffffff")},   // short
		{IDType: IDIPv6AddrSubnet, Data: mustHex(t, "c0000200 ffffff00")}, // v4 length for v6
		{IDType: IDFQDN, Data: []byte("left.test")},                       // not a subnet
	}
	for _, id := range bad {
		if _, err := id.Prefix(); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%v %x: Prefix error %v", id.IDType, id.Data, err)
		}
		if _, _, err := id.IPRange(); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%v %x: IPRange error %v", id.IDType, id.Data, err)
		}
	}
	if _, err := IDFromPrefix(netip.Prefix{}); !errors.Is(err, ErrInvalidID) {
		t.Fatal("invalid prefix accepted")
	}
}

func TestIDRange(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.20")
	id, err := IDFromRange(a, b)
	if err != nil || id.IDType != IDIPv4AddrRange || string(id.Data) != string(mustHex(t, "c000020a c0000214")) {
		t.Fatalf("%v %x %v", id.IDType, id.Data, err)
	}
	f, l, err := id.IPRange()
	if err != nil || f != a || l != b {
		t.Fatalf("%v %v %v", f, l, err)
	}
	v6, err := IDFromRange(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::1"))
	if err != nil || v6.IDType != IDIPv6AddrRange || len(v6.Data) != 32 {
		t.Fatalf("%v %v", v6, err)
	}
	if _, err := IDFromRange(b, a); !errors.Is(err, ErrInvalidID) {
		t.Fatal("reversed range accepted")
	}
	if _, err := IDFromRange(a, netip.MustParseAddr("2001:db8::1")); !errors.Is(err, ErrInvalidID) {
		t.Fatal("mixed families accepted")
	}
	rev := &Identification{IDType: IDIPv4AddrRange, Data: mustHex(t, "c0000214 c000020a")}
	if _, _, err := rev.IPRange(); !errors.Is(err, ErrInvalidID) || rev.Validate() == nil {
		t.Fatal("reversed range decoded")
	}
	if _, err := rev.Addr(); !errors.Is(err, ErrInvalidID) {
		t.Fatal("Addr of a range")
	}
}

func TestIDValidate(t *testing.T) {
	good := []*Identification{
		{IDType: IDFQDN, Data: []byte("left.test")},
		{IDType: IDUserFQDN, Data: []byte("user@left.test")},
		{IDType: IDDERASN1DN, Data: []byte{0x30, 0}},
		{IDType: IDKeyID, Data: []byte{1}},
		{IDType: IDIPv6Addr, Data: make([]byte, 16)},
	}
	for _, id := range good {
		if err := id.Validate(); err != nil {
			t.Errorf("%v: %v", id.IDType, err)
		}
	}
	bad := []*Identification{
		{IDType: IDFQDN},
		{IDType: IDFQDN, Data: []byte("left.test\x00")},
		{IDType: IDUserFQDN, Data: []byte{}},
		{IDType: IDDERASN1GN},
		{IDType: IDIPv4Addr, Data: make([]byte, 5)},
		{IDType: 12, Data: []byte{1}},
		{IDType: 0, Data: []byte{1}},
	}
	for _, id := range bad {
		if err := id.Validate(); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%v %x: %v", id.IDType, id.Data, err)
		}
	}
	names := map[IDType]string{IDIPv4Addr: "ID_IPV4_ADDR", IDFQDN: "ID_FQDN", IDUserFQDN: "ID_USER_FQDN",
		IDIPv4AddrSubnet: "ID_IPV4_ADDR_SUBNET", IDIPv6Addr: "ID_IPV6_ADDR", IDIPv6AddrSubnet: "ID_IPV6_ADDR_SUBNET",
		IDIPv4AddrRange: "ID_IPV4_ADDR_RANGE", IDIPv6AddrRange: "ID_IPV6_ADDR_RANGE", IDDERASN1DN: "ID_DER_ASN1_DN",
		IDDERASN1GN: "ID_DER_ASN1_GN", IDKeyID: "ID_KEY_ID", 12: "ID(12)"}
	for typ, want := range names {
		if typ.String() != want {
			t.Errorf("%d: %q", uint8(typ), typ.String())
		}
	}
}

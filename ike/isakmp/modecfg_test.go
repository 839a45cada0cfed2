package isakmp

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// TestSplitInclude: the Cisco 14-byte entries and strongSwan's 8-byte ones decode; other
// lengths and non-contiguous masks are malformed.
func TestSplitInclude(t *testing.T) {
	net := []byte{198, 51, 100, 0, 255, 255, 255, 0}
	pad := []byte{0, 0, 0, 0, 0, 0}
	cases := []struct {
		v    []byte
		want string
	}{
		{append(append([]byte{}, net...), pad...), "[198.51.100.0/24]"},
		{net, "[198.51.100.0/24]"},
		{append(append([]byte{}, net...), 203, 0, 113, 16, 255, 255, 255, 240), "[198.51.100.0/24 203.0.113.16/28]"},
		{AppendSplitInclude(nil, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("2001:db8::/32")}), "[198.51.100.0/24 0.0.0.0/0]"},
		{[]byte{198, 51, 100, 0, 255, 0, 255, 0}, "malformed"},
		{net[:6], "malformed"},
		{append(append([]byte{}, net...), 1, 2), "malformed"},
	}
	for _, c := range cases {
		got, err := DecodeSplitInclude(c.v)
		s := fmt.Sprint(got)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%x: error %v is not ErrMalformed", c.v, err)
			}
			s = "malformed"
		}
		if s != c.want {
			t.Errorf("%x: got %s, want %s", c.v, s, c.want)
		}
	}
}

// TestCfgAddr: address attribute values by type; an empty value is a request.
func TestCfgAddr(t *testing.T) {
	ip6 := netip.MustParseAddr("2001:db8::1").AsSlice()
	for _, c := range []struct {
		t    AttributeType
		v    []byte
		want string
	}{
		{CfgInternalIP4Address, []byte{203, 0, 113, 17}, "203.0.113.17"},
		{CfgInternalIP4Address, nil, "invalid IP"},
		{CfgInternalIP4Address, []byte{1, 2, 3}, "malformed"},
		{CfgInternalIP6Address, ip6, "2001:db8::1"},
		{CfgInternalIP6Address, append(append([]byte{}, ip6...), 64), "2001:db8::1"},
		{CfgInternalIP6Address, append(append([]byte{}, ip6...), 129), "malformed"},
		{CfgInternalIP6DNS, append(append([]byte{}, ip6...), 64), "malformed"},
		{CfgXAUTHUserName, []byte("x"), "malformed"},
	} {
		a, err := DecodeCfgAddr(c.t, c.v)
		s := a.String()
		if err != nil {
			s = "malformed"
		}
		if s != c.want {
			t.Errorf("type %d %x: got %s, want %s", c.t, c.v, s, c.want)
		}
	}
}

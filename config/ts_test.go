package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTS(t *testing.T) {
	p := netip.MustParsePrefix
	cases := []struct {
		in   string
		want TrafficSelector
		str  string // String(); "" = same as in
	}{
		{"192.0.2.0/24", TrafficSelector{p("192.0.2.0/24"), 0, 0, 65535}, ""},
		{"192.0.2.7", TrafficSelector{p("192.0.2.7/32"), 0, 0, 65535}, "192.0.2.7/32"},
		{"2001:db8::1", TrafficSelector{p("2001:db8::1/128"), 0, 0, 65535}, "2001:db8::1/128"},
		{"0.0.0.0/0", TrafficSelector{p("0.0.0.0/0"), 0, 0, 65535}, ""},
		{"192.0.2.0/24[tcp/443]", TrafficSelector{p("192.0.2.0/24"), 6, 443, 443}, ""},
		{"192.0.2.0/24[udp]", TrafficSelector{p("192.0.2.0/24"), 17, 0, 65535}, ""},
		{"192.0.2.0/24[tcp/1000-2000]", TrafficSelector{p("192.0.2.0/24"), 6, 1000, 2000}, ""},
		{"192.0.2.0/24[47]", TrafficSelector{p("192.0.2.0/24"), 47, 0, 65535}, "192.0.2.0/24[gre]"},
		{"2001:db8::/32[icmpv6]", TrafficSelector{p("2001:db8::/32"), 58, 0, 65535}, ""},
		{"198.51.100.0/24[TCP/%any]", TrafficSelector{p("198.51.100.0/24"), 6, 0, 65535}, "198.51.100.0/24[tcp]"},
		{"198.51.100.0/24[tcp/0-65535]", TrafficSelector{p("198.51.100.0/24"), 6, 0, 65535}, "198.51.100.0/24[tcp]"},
		{"198.51.100.0/24[%any]", TrafficSelector{p("198.51.100.0/24"), 0, 0, 65535}, "198.51.100.0/24"},
		{"198.51.100.0/24[253]", TrafficSelector{p("198.51.100.0/24"), 253, 0, 65535}, ""},
		{" 192.0.2.0/24 [ sctp / 9 ] ", TrafficSelector{p("192.0.2.0/24"), 132, 9, 9}, "192.0.2.0/24[sctp/9]"},
		{"192.0.2.0/24[136/5-6]", TrafficSelector{p("192.0.2.0/24"), 136, 5, 6}, ""},
	}
	for _, tc := range cases {
		got, err := parseTS(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q = %+v, want %+v", tc.in, got, tc.want)
		}
		want := tc.str
		if want == "" {
			want = tc.in
		}
		if got.String() != want {
			t.Errorf("%q.String() = %q, want %q", tc.in, got.String(), want)
		}
		back, err := parseTS(got.String())
		if err != nil || back != got {
			t.Errorf("round trip of %q: %+v, %v", got.String(), back, err)
		}
	}
}

func TestParseTSErrors(t *testing.T) {
	for _, tc := range []struct{ in, frag string }{
		{"", "has no address"},
		{"[tcp]", "has no address"},
		{"192.0.2.0/33", "is not an address prefix"},
		{"192.0.2.1/24", "host bits set; write 192.0.2.0/24"},
		{"192.0.2.0/24[]", "empty brackets"},
		{"192.0.2.0/24[tcp", "want ADDRESS/LEN[PROTO/PORTS]"},
		{"192.0.2.0/24[tcp]x", "want ADDRESS/LEN[PROTO/PORTS]"},
		{"192.0.2.0/24[[tcp]]", "want ADDRESS/LEN[PROTO/PORTS]"},
		{"192.0.2.0/24[foo]", `unknown protocol "foo"`},
		{"192.0.2.0/24[256]", `unknown protocol "256"`},
		{"192.0.2.0/24[icmp/8]", "ports need tcp, udp"},
		{"192.0.2.0/24[tcp/65536]", "want a port 0..65535"},
		{"192.0.2.0/24[tcp/-5]", "want a port 0..65535"},
		{"192.0.2.0/24[tcp/2-1]", "reversed"},
		{"192.0.2.0/24[tcp/http]", "want a port"},
		{"fe80::1%eth0", "is not an IP address or prefix"},
		{"site-b.example", "is not an IP address or prefix"},
	} {
		_, err := parseTS(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.frag) {
			t.Errorf("%q: error %v, want ...%s...", tc.in, err, tc.frag)
		}
	}
}

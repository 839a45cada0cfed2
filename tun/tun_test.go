package tun

import (
	"net/netip"
	"strings"
	"testing"
)

func TestOptionsNormalize(t *testing.T) {
	good := Options{
		Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.1/24")},
		Routes:    []netip.Prefix{netip.MustParsePrefix("::ffff:198.51.100.0/120")},
	}
	o, err := good.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if o.MTU != DefaultMTU || len(o.Addresses) != 1 || o.Routes[0] != netip.MustParsePrefix("198.51.100.0/24") {
		t.Errorf("normalize = %+v; want default MTU, one address, the mapped route unmapped", o)
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Routes: []netip.Prefix{netip.MustParsePrefix("198.51.100.7/24")}}, "198.51.100.7/24 has host bits set"},
		{Options{Routes: []netip.Prefix{{}}}, "invalid route"},
		{Options{Routes: []netip.Prefix{netip.MustParsePrefix("::ffff:0.0.0.0/80")}}, "invalid route"},
		{Options{Addresses: []netip.Prefix{{}}}, "invalid address"},
		{Options{MTU: 1279, Addresses: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}}, "MTU 1279 out of range [1280"},
		{Options{MTU: 1279, Routes: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}}, "MTU 1279 out of range [1280"},
		{Options{MTU: 500}, "MTU 500 out of range [576"},
		{Options{MTU: 65536}, "MTU 65536 out of range"},
	} {
		if _, err := tc.opts.normalize(); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tun: ") {
			t.Errorf("normalize(%+v) = %v; want an error containing %q", tc.opts, err, tc.want)
		}
	}
	if _, err := (Options{MTU: 1279}).normalize(); err != nil {
		t.Errorf("an IPv4-only MTU of 1279 was refused: %v", err)
	}
}

func TestIsUtunName(t *testing.T) {
	for name, want := range map[string]bool{
		"utun": true, "utun0": true, "utun12": true,
		"": false, "oakley0": false, "utun-1": false, "utun01": false, "utunx": false, "utun1a": false,
	} {
		if got := isUtunName(name); got != want {
			t.Errorf("isUtunName(%q) = %v; want %v", name, got, want)
		}
	}
}

func TestParseRouteGetMTU(t *testing.T) {
	out := `   route to: 198.51.100.7
destination: default
       mask: default
    gateway: 192.0.2.254
  interface: en0
      flags: <UP,GATEWAY,DONE,STATIC,PRCLONING>
 recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire
       0         0         0         0         0         0      1492         0
`
	if mtu, ok := parseRouteGetMTU(out); !ok || mtu != 1492 {
		t.Errorf("parseRouteGetMTU = %d, %v; want 1492", mtu, ok)
	}
	for _, bad := range []string{"", "route: writing to routing socket: not in table", " mtu\n", " mtu expire\n x 0\n", " mtu\n 0\n"} {
		if mtu, ok := parseRouteGetMTU(bad); ok {
			t.Errorf("parseRouteGetMTU(%q) = %d; want no answer", bad, mtu)
		}
	}
}

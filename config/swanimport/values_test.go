package swanimport

import (
	"math/rand"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"oakley/crypto"
)

func TestTimes(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Second, "30s": 30 * time.Second, "10m": 10 * time.Minute, "1.5h": 90 * time.Minute,
		"1d": 24 * time.Hour, "0": 0, " 4h ": 4 * time.Hour,
	} {
		if got, ok := parseTime(in); !ok || got != want {
			t.Errorf("parseTime(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "x", "-1s", "1w", "NaN", "1e20d"} {
		if _, ok := parseTime(bad); ok {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 30 * time.Second: "30s", 51 * time.Minute: "51m",
		171 * time.Minute: "2h51m", 7 * 24 * time.Hour: "7d", 90*time.Minute + 5*time.Second: "1h30m5s"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %s, want %s", d, got, want)
		}
		if back, err := time.ParseDuration(strings.Replace(want, "7d", "168h", 1)); err != nil || back != d {
			t.Errorf("fmtDuration(%v) = %s does not read back: %v %v", d, want, back, err)
		}
	}
}

func TestConvertID(t *testing.T) {
	for in, want := range map[string]string{
		"site.example": "site.example", "@site.example": "@site.example", "fqdn:site.example": "@site.example",
		"dns:site.example": "@site.example", "198.18.0.1": "198.18.0.1", "2001:db8::1": "2001:db8::1",
		"ops@site.example": "ops@site.example", "email:ops@site.example": "ops@site.example",
		"@@ops@site.example": "ops@site.example", "C=CH, O=Example, CN=gw": "C=CH, O=Example, CN=gw",
		"asn1dn:C=CH, CN=gw": "C=CH, CN=gw", "%any": "%any", "ipv4:#c6120001": "198.18.0.1",
		"fqdn:#6677": "@fw",
	} {
		got, problem := convertID(in)
		if problem != "" || got != want {
			t.Errorf("convertID(%q) = %q %q, want %q", in, got, problem, want)
		}
	}
	for _, bad := range []string{"*.example.com", "keyid:#0011", "@#0011", "ipv4:198.18.0.1", "email:nobody",
		"{9}:x", "ipv4:#zz", "ipv6:#c6120001", "@@nouser"} {
		if got, problem := convertID(bad); problem == "" {
			t.Errorf("convertID(%q) = %q, want a problem", bad, got)
		}
	}
}

func TestConvertTS(t *testing.T) {
	for _, c := range []struct {
		in    string
		ikev1 bool
		want  []string
	}{
		{"192.0.2.0/24", true, []string{"192.0.2.0/24"}},
		{"192.0.2.7/24", true, []string{"192.0.2.0/24"}},
		{"192.0.2.7", true, []string{"192.0.2.7"}},
		{"2001:db8::/32[tcp/https]", true, []string{"2001:db8::/32[tcp/443]"}},
		{"192.0.2.0/24[udp]", true, []string{"192.0.2.0/24[udp]"}},
		{"192.0.2.0/24[ospf]", true, []string{"192.0.2.0/24[89]"}},
		{"192.0.2.0/24[/53]", true, nil},
		{"192.0.2.0/24[%any/%any]", true, []string{"192.0.2.0/24"}},
		{"192.0.2.0/24[tcp/1000-2000]", false, []string{"192.0.2.0/24[tcp/1000-2000]"}},
		{"192.0.2.0/24[tcp/1000-2000]", true, nil},
		{"192.0.2.0-192.0.2.255", true, []string{"192.0.2.0/24"}},
		{"192.0.2.1-192.0.2.6", false, []string{"192.0.2.1", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6"}},
		{"192.0.2.1-192.0.2.6", true, nil},
		{"%any", true, []string{"0.0.0.0/0"}},
		{"198.51.100.0/24[icmp/8]", true, nil},
		{"198.51.100.0/24[tcp/opaque]", true, nil},
		{"198.51.100.0/24[tcp/nosuchservice]", true, nil},
		{"nonsense", true, nil},
		{"192.0.2.9-192.0.2.1", true, nil},
	} {
		got, _, problem := convertTS(c.in, c.ikev1)
		if !reflect.DeepEqual(got, c.want) || (c.want == nil) != (problem != "") {
			t.Errorf("convertTS(%q, v1=%v) = %v %q, want %v", c.in, c.ikev1, got, problem, c.want)
		}
	}
}

// TestRangePrefixes: the CIDRs cover exactly the range, are disjoint and in order.
func TestRangePrefixes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		var lo, hi netip.Addr
		if i%2 == 0 {
			a, b := r.Uint32()>>uint(r.Intn(32)), r.Uint32()>>uint(r.Intn(32))
			if a > b {
				a, b = b, a
			}
			lo = netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
			hi = netip.AddrFrom4([4]byte{byte(b >> 24), byte(b >> 16), byte(b >> 8), byte(b)})
		} else {
			var x, y [16]byte
			r.Read(x[:])
			y = x
			n := 8 + r.Intn(8)
			for j := n; j < 16; j++ {
				x[j], y[j] = byte(r.Intn(256)), byte(r.Intn(256))
			}
			lo, hi = netip.AddrFrom16(x), netip.AddrFrom16(y)
			if hi.Less(lo) {
				lo, hi = hi, lo
			}
		}
		ps := rangePrefixes(lo, hi, 1<<20)
		if len(ps) == 0 || ps[0].Addr() != lo || lastAddr(ps[len(ps)-1]) != hi {
			t.Fatalf("%s-%s: %v", lo, hi, ps)
		}
		for j := 1; j < len(ps); j++ {
			if lastAddr(ps[j-1]).Next() != ps[j].Addr() {
				t.Fatalf("%s-%s: gap or overlap between %s and %s", lo, hi, ps[j-1], ps[j])
			}
			if ps[j] != ps[j].Masked() {
				t.Fatalf("%s-%s: %s is not aligned", lo, hi, ps[j])
			}
		}
		if len(ps) > 2*lo.BitLen() {
			t.Fatalf("%s-%s: %d prefixes, more than 2·bits", lo, hi, len(ps))
		}
	}
	if got := rangePrefixes(netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255"), 4); len(got) != 1 || got[0].Bits() != 0 {
		t.Errorf("the whole space: %v", got)
	}
	if got := rangePrefixes(netip.MustParseAddr("0.0.0.1"), netip.MustParseAddr("255.255.255.254"), 4); got != nil {
		t.Errorf("over the limit: %v", got)
	}
}

func TestConvertProposals(t *testing.T) {
	for _, c := range []struct {
		in       string
		proto    crypto.Protocol
		ikev1    bool
		want     []string
		insecure []string
		warns    []string
	}{
		{"aes256-sha256-modp2048", crypto.ProtoIKEv1, true, []string{"aes256-sha256-modp2048"}, nil, nil},
		{"aes128-aes256-sha256-sha1-modp2048-ecp256", crypto.ProtoIKEv1, true, []string{"aes128-sha256-modp2048"}, nil, []string{`"aes256"`, `"sha1"`, `"ecp256"`}},
		{"aes128-aes256-sha256-modp2048", crypto.ProtoIKEv2, false, []string{"aes128-aes256-sha256-modp2048"}, nil, nil},
		{"aes128ctr-sha256-modp2048, aes128-sha256-modp2048", crypto.ProtoIKEv2, false, []string{"aes128-sha256-modp2048"}, nil, []string{`"aes128ctr"`, "cannot be used"}},
		{"aes128gcm16-prfsha256-ecp256", crypto.ProtoIKEv1, true, nil, nil, []string{"PRF", "not defined for IKEv1"}},
		{"3des-md5-modp1024", crypto.ProtoIKEv1, true, []string{"3des-md5-modp1024"}, []string{"md5", "modp1024"}, nil},
		{"aes128gcm16-esn-noesn", crypto.ProtoESP, false, []string{"aes128gcm16-esn-noesn"}, nil, nil},
		{"default", crypto.ProtoESP, false, nil, nil, []string{"default set differs"}},
		{"aes128-sha256, default", crypto.ProtoESP, false, []string{"aes128-sha256"}, nil, []string{`"default"`}},
		{"camellia128-aesxcbc", crypto.ProtoESP, false, nil, nil, []string{"no algorithm oakley implements", "no proposal is usable"}},
		{"sha256-modp2048", crypto.ProtoAH, true, []string{"sha256-modp2048"}, nil, nil},
	} {
		d := &diags{}
		got, insecure := convertProposals(d, Pos{File: "p", Line: 1}, "proposals", c.in, c.proto, c.ikev1)
		if !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(insecure, c.insecure) {
			t.Errorf("%q: %v %v, want %v %v", c.in, got, insecure, c.want, c.insecure)
		}
		all := ""
		for _, w := range d.warnings() {
			all += w.Msg + "\n"
		}
		for _, w := range c.warns {
			if !strings.Contains(all, w) {
				t.Errorf("%q: no warning with %q in:\n%s", c.in, w, all)
			}
		}
		if c.warns == nil && all != "" {
			t.Errorf("%q: unexpected warnings:\n%s", c.in, all)
		}
	}
	d := &diags{}
	if got := sameGroup(d, Pos{}, "proposals", []string{"aes256-sha256-modp2048", "aes128-sha256-ecp256", "aes128-sha1-modp2048"}); len(got) != 2 || len(d.warnings()) != 1 {
		t.Errorf("sameGroup: %v %v", got, d.warnings())
	}
}

func TestBestSecret(t *testing.T) {
	cands := []secretCand{
		{ids: nil, value: "any"},
		{ids: []string{"a.example"}, value: "me"},
		{ids: []string{"b.example"}, value: "peer"},
		{ids: []string{"@a.example", "fqdn:b.example"}, value: "both"},
		{ids: []string{"c.example"}, value: "other"},
	}
	for _, c := range []struct{ local, remote, want string }{
		{"a.example", "b.example", "both"},
		{"a.example", "x.example", "me"},
		{"x.example", "b.example", "peer"},
		{"x.example", "y.example", "any"},
	} {
		if got := bestSecret(cands, c.local, c.remote); got == nil || got.value != c.want {
			t.Errorf("bestSecret(%s, %s) = %+v, want %s", c.local, c.remote, got, c.want)
		}
	}
	if got := bestSecret(cands[4:], "x", "y"); got != nil {
		t.Errorf("no match: %+v", got)
	}
}

func TestSecretFileData(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain\n", "0x00ff": "0x00ff\n", "trailing ": "0x747261696c696e6720\n", "a\nb": "0x610a62\n",
	} {
		if got := string(secretFileData(in)); got != want {
			t.Errorf("secretFileData(%q) = %q, want %q", in, got, want)
		}
	}
}

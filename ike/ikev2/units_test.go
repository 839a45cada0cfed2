package ikev2

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/core/coretest"
	"oakley/ike/ikev2/wire"
)

func tsRange(t *testing.T, a, b string, proto uint8, lo, hi uint16) wire.TrafficSelector {
	ts, err := wire.TSFromRange(netip.MustParseAddr(a), netip.MustParseAddr(b))
	if err != nil {
		t.Fatal(err)
	}
	ts.Protocol, ts.StartPort, ts.EndPort = proto, lo, hi
	return ts
}

func TestNarrowing(t *testing.T) {
	ours := toTS([]esp.Selector{
		{Prefix: netip.MustParsePrefix("192.0.2.0/24"), PortHi: 0xffff},
		{Prefix: netip.MustParsePrefix("198.51.100.0/25"), Proto: 6, PortLo: 80, PortHi: 443},
	})
	for _, tc := range []struct {
		name     string
		proposed []wire.TrafficSelector
		want     string
	}{
		{"subset", []wire.TrafficSelector{tsRange(t, "192.0.2.10", "192.0.2.20", 0, 0, 0xffff)}, "192.0.2.10..192.0.2.20"},
		{"superset", []wire.TrafficSelector{tsRange(t, "192.0.0.0", "192.0.255.255", 0, 0, 0xffff)}, "192.0.2.0/24"},
		{"protocol and ports", []wire.TrafficSelector{tsRange(t, "198.51.100.0", "198.51.100.255", 0, 0, 1000)}, "198.51.100.0/25 6/80-443"},
		{"protocol mismatch", []wire.TrafficSelector{tsRange(t, "198.51.100.0", "198.51.100.255", 17, 0, 0xffff)}, ""},
		{"disjoint", []wire.TrafficSelector{tsRange(t, "203.0.113.0", "203.0.113.255", 0, 0, 0xffff)}, ""},
		{"the packet first, then the subnet", []wire.TrafficSelector{tsRange(t, "192.0.2.7", "192.0.2.7", 1, 0, 0xffff), tsRange(t, "192.0.2.0", "192.0.2.255", 0, 0, 0xffff)}, "192.0.2.0/24"},
		{"ipv6 against ipv4", []wire.TrafficSelector{wire.TSFromPrefix(netip.MustParsePrefix("2001:db8::/32"))}, ""},
	} {
		got := narrow(tc.proposed, ours)
		if s := tsString(got); !strings.Contains(strings.ReplaceAll(s, "[", " "), strings.TrimSpace(tc.want)) || (tc.want == "") != (len(got) == 0) {
			t.Errorf("%s: narrowed to %q, want %q", tc.name, s, tc.want)
		}
		if len(got) > 0 && !allWithin(got, ours) {
			t.Errorf("%s: %s not within ours", tc.name, tsString(got))
		}
	}
	// A range that is not a prefix becomes several data-plane selectors, ports kept.
	sels, ok := toSelectors([]wire.TrafficSelector{tsRange(t, "192.0.2.1", "192.0.2.9", 6, 22, 22)})
	if !ok || len(sels) != 4 || sels[0].Prefix.String() != "192.0.2.1/32" || sels[3].Prefix.String() != "192.0.2.8/31" {
		t.Fatalf("range to selectors: %s", core.SelectorsString(sels))
	}
	for _, s := range sels {
		if s.Proto != 6 || s.PortLo != 22 || s.PortHi != 22 {
			t.Fatalf("selector %v lost protocol or port", s)
		}
	}
	// Too fragmented a range is refused; OPAQUE ports are skipped.
	if _, ok := toSelectors([]wire.TrafficSelector{tsRange(t, "2001:db8::1", "2001:db8::ffff:ffff:ffff:fffe", 0, 0, 0xffff)}); ok {
		t.Fatal("a range of >64 prefixes accepted")
	}
	if _, ok := toSelectors([]wire.TrafficSelector{tsRange(t, "192.0.2.1", "192.0.2.1", 17, 0xffff, 0)}); ok {
		t.Fatal("OPAQUE ports accepted")
	}
	// The initiator refuses an answer wider than its proposal.
	if allWithin([]wire.TrafficSelector{wire.TSFromPrefix(netip.MustParsePrefix("192.0.0.0/16"))}, ours) {
		t.Fatal("a wider answer accepted")
	}
}

func TestProposalSelection(t *testing.T) {
	ours := props(t, crypto.ProtoIKEv2, "aes256gcm16-prfsha384-ecp384", "aes128-sha256-modp2048-ecp256")
	peer := offer(wire.ProtoIKE, props(t, crypto.ProtoIKEv2, "aes128-sha256-ecp256-modp2048"), nil, false)
	c, err := selectProposal(ours, peer, selectOpts{proto: wire.ProtoIKE})
	if err != nil || c.String() != "aes128-sha256-prfsha256-modp2048" {
		t.Fatalf("chose %v (%v)", c, err)
	}
	// The KE payload's group wins when acceptable (no INVALID_KE round trip).
	if c, _ = selectProposal(ours, peer, selectOpts{proto: wire.ProtoIKE, preferGroup: 19}); c.dh.Name != "ecp256" {
		t.Fatalf("preferred group ignored: %v", c)
	}
	// The initiator accepts what it offered...
	resp := &wire.SA{Proposals: []wire.Proposal{{Number: c.number, Protocol: wire.ProtoIKE, Transforms: c.transforms(wire.ProtoIKE)}}}
	if got, err := checkChoice(peer, resp, wire.ProtoIKE, 0); err != nil || got.String() != c.String() {
		t.Fatalf("check: %v %v", got, err)
	}
	// ... and nothing else.
	for name, mutate := range map[string]func(p *wire.Proposal){
		"two transforms of a type": func(p *wire.Proposal) { p.Transforms = append(p.Transforms, p.Transforms[0]) },
		"not offered":              func(p *wire.Proposal) { p.Transforms[0] = wire.TransformFor(crypto.Lookup("aes256")) },
		"no KE":                    func(p *wire.Proposal) { p.Transforms = p.Transforms[:len(p.Transforms)-1] },
		"wrong number":             func(p *wire.Proposal) { p.Number = 9 },
		"wrong protocol":           func(p *wire.Proposal) { p.Protocol = wire.ProtoESP },
		"an SPI":                   func(p *wire.Proposal) { p.SPI = []byte{1, 2, 3, 4} },
	} {
		bad := &wire.SA{Proposals: []wire.Proposal{{Number: c.number, Protocol: wire.ProtoIKE, Transforms: append([]wire.Transform(nil), c.transforms(wire.ProtoIKE)...)}}}
		mutate(&bad.Proposals[0])
		if _, err := checkChoice(peer, bad, wire.ProtoIKE, 0); !errors.Is(err, ErrNoProposalChosen) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	// Children: PFS must match both ways; IKE_AUTH ignores KE.
	mine := props(t, crypto.ProtoESP, "aes128gcm16-ecp256")
	noPFS := offer(wire.ProtoESP, props(t, crypto.ProtoESP, "aes128gcm16"), []byte{1, 2, 3, 4}, false)
	if _, err := selectProposal(mine, noPFS, selectOpts{proto: wire.ProtoESP}); err == nil {
		t.Error("a proposal without PFS accepted by a child that wants it")
	}
	if c, err := selectProposal(mine, noPFS, selectOpts{proto: wire.ProtoESP, ignoreKE: true}); err != nil || c.dh != nil {
		t.Errorf("IKE_AUTH child: %v %v", c, err)
	}
	withPFS := offer(wire.ProtoESP, props(t, crypto.ProtoESP, "aes128gcm16-modp2048"), []byte{1, 2, 3, 4}, true)
	if _, err := selectProposal(props(t, crypto.ProtoESP, "aes128gcm16"), withPFS, selectOpts{proto: wire.ProtoESP}); err == nil {
		t.Error("a PFS proposal accepted by a child without PFS")
	}
	// An AEAD proposal carrying an integrity transform is refused (RFC 5282 §8).
	aeadInteg := []wire.Proposal{{Number: 1, Protocol: wire.ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: []wire.Transform{
		wire.TransformFor(crypto.Lookup("aes128gcm16")), wire.TransformFor(crypto.Lookup("sha256")), wire.TransformFor(crypto.Lookup("noesn"))}}}
	if _, err := selectProposal(props(t, crypto.ProtoESP, "aes128gcm16"), aeadInteg, selectOpts{proto: wire.ProtoESP}); err == nil {
		t.Error("AEAD with integrity accepted")
	}
	// Insecure algorithms need the opt-in.
	legacy := offer(wire.ProtoIKE, []*crypto.Proposal{mustInsecure(t, "aes128-sha1-modp1024")}, nil, false)
	if _, err := selectProposal([]*crypto.Proposal{mustInsecure(t, "aes128-sha1-modp1024")}, legacy, selectOpts{proto: wire.ProtoIKE}); err == nil {
		t.Error("modp1024 chosen without insecure_algorithms")
	}
}

func mustInsecure(t *testing.T, s string) *crypto.Proposal {
	p, err := crypto.ParseProposal(crypto.ProtoIKEv2, s, true)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	p := New()
	for name, mutate := range map[string]func(c *core.Connection){
		"aggressive":  func(c *core.Connection) { c.Aggressive = true },
		"pke":         func(c *core.Connection) { c.Auth = "pke" },
		"ah over udp": func(c *core.Connection) { c.Children[0].AHProposals = props(t, crypto.ProtoAH, "sha256") },
		"insecure":    func(c *core.Connection) { c.Proposals = []*crypto.Proposal{mustInsecure(t, "aes128-sha1-modp1024")} },
	} {
		a, _ := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
		mutate(a)
		if err := p.Validate(a); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	a, _ := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	if err := p.Validate(a); err != nil {
		t.Fatal(err)
	}
	// auth = "pubkey" without credentials is refused by the core.
	a.Auth, a.PSK = "pubkey", nil
	if _, err := core.New(core.Config{Connections: []*core.Connection{a}, Dataplane: coretest.NewFakeDP()}, nil, New()); err == nil || !strings.Contains(err.Error(), "needs our certificate and key") {
		t.Fatalf("pubkey without credentials: %v", err)
	}
}

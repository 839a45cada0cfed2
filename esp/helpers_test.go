package esp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	ocrypto "oakley/crypto"
)

var (
	innerSrc4 = netip.MustParseAddr("192.0.2.10")
	innerDst4 = netip.MustParseAddr("198.51.100.20")
	innerSrc6 = netip.MustParseAddr("2001:db8:a::10")
	innerDst6 = netip.MustParseAddr("2001:db8:b::20")
	outerA4   = netip.MustParseAddr("198.18.0.1")
	outerB4   = netip.MustParseAddr("198.18.0.2")
	outerA6   = netip.MustParseAddr("2001:db8:ffff::1")
	outerB6   = netip.MustParseAddr("2001:db8:ffff::2")
)

// udpPacket builds an IPv4 or IPv6 UDP packet of total length n (n ≥ 28 / 48).
func udpPacket(src, dst netip.Addr, n int, fill byte) []byte {
	p := make([]byte, n)
	hl := 20
	if src.Is4() {
		putIPv4Header(p, n, 0x1234, ProtoUDP, src, dst)
	} else {
		hl = 40
		putIPv6Header(p, n-40, ProtoUDP, src, dst)
	}
	binary.BigEndian.PutUint16(p[hl:], 4000)
	binary.BigEndian.PutUint16(p[hl+2:], 5000)
	binary.BigEndian.PutUint16(p[hl+4:], uint16(n-hl))
	for i := hl + 8; i < n; i++ {
		p[i] = fill + byte(i)
	}
	return p
}

type pairOpts struct {
	enc, integ string // integ "" for AEAD; enc "" for AH
	mode       Mode
	esn        bool
	v6outer    bool
	replay     int
	life       Lifetime
}

// newPair returns an outbound SA and its inbound mirror sharing keys, with selectors for the
// documentation subnets of both families.
func newPair(t testing.TB, o pairOpts) (out, in *SA) {
	t.Helper()
	var enc, integ *ocrypto.Algorithm
	var ek, ik []byte
	proto := ESP
	if o.enc == "" {
		proto = AH
	} else {
		enc = ocrypto.Lookup(o.enc)
		ek = bytes.Repeat([]byte{0x5a}, enc.KeyLen())
		if o.enc == "3des" {
			ek = []byte("0123456789abcdefFEDCBA98")
		}
	}
	if o.integ != "" {
		integ = ocrypto.Lookup(o.integ)
		ik = bytes.Repeat([]byte{0xa5}, integ.KeyLen())
	}
	if o.mode == 0 {
		o.mode = Tunnel
	}
	la, ra := outerA4, outerB4
	if o.v6outer {
		la, ra = outerA6, outerB6
	}
	local := []Selector{SelectorFor(netip.MustParsePrefix("192.0.2.0/24")), SelectorFor(netip.MustParsePrefix("2001:db8:a::/48"))}
	remote := []Selector{SelectorFor(netip.MustParsePrefix("198.51.100.0/24")), SelectorFor(netip.MustParsePrefix("2001:db8:b::/48"))}
	if o.mode == Transport {
		local = []Selector{SelectorFor(netip.PrefixFrom(la, la.BitLen()))}
		remote = []Selector{SelectorFor(netip.PrefixFrom(ra, ra.BitLen()))}
	}
	cfg := Config{SPI: 0x1000, Dir: Outbound, Proto: proto, Mode: o.mode, ESN: o.esn, Enc: enc, Integ: integ,
		EncKey: ek, IntegKey: ik, Replay: o.replay, Life: o.life, Local: local, Remote: remote,
		LocalAddr: la, RemoteAddr: ra, Rand: bytes.NewReader(make([]byte, 64))}
	var err error
	if out, err = NewSA(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Dir = Inbound
	cfg.Local, cfg.Remote = remote, local
	cfg.LocalAddr, cfg.RemoteAddr = ra, la
	cfg.Rand = bytes.NewReader(make([]byte, 64))
	if in, err = NewSA(cfg); err != nil {
		t.Fatal(err)
	}
	return out, in
}

// load puts packets into a batch at Headroom.
func load(b *Batch, pkts ...[]byte) {
	b.Reset(len(pkts))
	for i, p := range pkts {
		copy(b.Bufs[i][Headroom:], p)
		b.Set(i, Headroom, len(p))
	}
}

// moveTo copies every packet of src to a fresh batch at Headroom, as a receive path would.
func moveTo(dst, src *Batch) {
	dst.Reset(src.N)
	for i := range src.N {
		if src.Errs[i] != nil {
			dst.Set(i, Headroom, 0)
			dst.Errs[i] = src.Errs[i]
			continue
		}
		copy(dst.Bufs[i][Headroom:], src.Packet(i))
		dst.Set(i, Headroom, src.Sizes[i])
	}
}

package esp

import (
	"net/netip"

	ocrypto "oakley/crypto"
)

// Tunnel MTU arithmetic: the worst-case bytes ESP or AH adds to an inner packet, and so the
// largest inner packet that fits a path MTU (RFC 4303 §2: SPI, SN, IV, padding to the block
// size, pad length, next header, ICV; RFC 4302 §2: the AH header and its ICV, aligned;
// RFC 3948: a UDP header; and the outer IP header). Pure functions.

// TunnelMTU is the largest inner packet a transform carries over a path MTU. integ is nil for
// an AEAD; enc is nil for AH.
func TunnelMTU(pathMTU int, enc, integ *ocrypto.Algorithm, ah bool, encap Encap, outerV6 bool) int {
	outer := 20
	if outerV6 {
		outer = 40
	}
	if encap == EncapUDP {
		outer += 8
	}
	if ah {
		icv := integ.ICVSize
		align := 4
		if outerV6 {
			align = 8
		}
		return pathMTU - outer - (12+icv+align-1)/align*align
	}
	bs := max(enc.BlockSize, 4)
	icv := enc.ICVSize
	if integ != nil {
		icv = integ.ICVSize
	}
	room := pathMTU - outer - 8 - enc.IVSize - icv
	return room/bs*bs - 2
}

// ProposalMTU is the smallest tunnel MTU any transform of the proposals could give (what a
// device must use before negotiation has picked one); pathMTU-100 when there are none.
func ProposalMTU(pathMTU int, esps, ahs []*ocrypto.Proposal, encap Encap, outerV6 bool) int {
	best := 0
	consider := func(m int) {
		if best == 0 || m < best {
			best = m
		}
	}
	for _, p := range esps {
		for _, e := range p.Encr {
			if e.AEAD {
				consider(TunnelMTU(pathMTU, e, nil, false, encap, outerV6))
				continue
			}
			for _, i := range p.Integ {
				consider(TunnelMTU(pathMTU, e, i, false, encap, outerV6))
			}
		}
	}
	for _, p := range ahs {
		for _, i := range p.Integ {
			consider(TunnelMTU(pathMTU, nil, i, true, encap, outerV6))
		}
	}
	if best == 0 {
		best = pathMTU - 100
	}
	return best
}

// TunnelMTU is the tunnel MTU of this SA over a path MTU towards remote.
func (sa *SA) TunnelMTU(pathMTU int, encap Encap, remote netip.Addr) int {
	c := &sa.cfg
	return TunnelMTU(pathMTU, c.Enc, c.Integ, c.Proto == AH, encap, remote.Is6())
}

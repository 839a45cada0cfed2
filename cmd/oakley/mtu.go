package main

import (
	"net/netip"

	ocrypto "oakley/crypto"
	"oakley/esp"
)

// Worst-case bytes ESP or AH adds to an inner packet, and the largest inner packet that
// fits a path MTU (RFC 4303 §2: SPI, SN, IV, padding to the block size, pad length, next
// header, ICV; RFC 3948: a UDP header; and the outer IP header).
func tunnelMTU(pathMTU int, enc, integ *ocrypto.Algorithm, ah bool, encap esp.Encap, outerV6 bool) int {
	outer := 20
	if outerV6 {
		outer = 40
	}
	if encap == esp.EncapUDP {
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

// proposalMTU is the smallest tunnel MTU any of the child's proposals could give.
func proposalMTU(pathMTU int, esps, ahs []*ocrypto.Proposal, encap esp.Encap, outerV6 bool) int {
	best := 0
	consider := func(m int) {
		if best == 0 || m < best {
			best = m
		}
	}
	for _, p := range esps {
		for _, e := range p.Encr {
			if e.AEAD {
				consider(tunnelMTU(pathMTU, e, nil, false, encap, outerV6))
				continue
			}
			for _, i := range p.Integ {
				consider(tunnelMTU(pathMTU, e, i, false, encap, outerV6))
			}
		}
	}
	for _, p := range ahs {
		for _, i := range p.Integ {
			consider(tunnelMTU(pathMTU, nil, i, true, encap, outerV6))
		}
	}
	if best == 0 {
		best = pathMTU - 100
	}
	return best
}

// saMTU is the tunnel MTU of one installed SA.
func saMTU(pathMTU int, sa *esp.SA, encap esp.Encap, remote netip.Addr) int {
	c := sa.Config()
	return tunnelMTU(pathMTU, c.Enc, c.Integ, c.Proto == esp.AH, encap, remote.Is6())
}

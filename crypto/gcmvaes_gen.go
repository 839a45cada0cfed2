//go:build ignore

// Generates gcmvaes_amd64.s: AES-GCM kernels on VAES and VPCLMULQDQ with 512-bit vectors
// (go run gcmvaes_gen.go > gcmvaes_amd64.s). See gcmvaes.go for the design.
package main

import (
	"fmt"
	"os"
	"strings"
)

var out strings.Builder

func p(format string, args ...any) { fmt.Fprintf(&out, "\t"+format+"\n", args...) }
func label(l string)               { fmt.Fprintf(&out, "%s:\n", l) }

// Shared registers.
const (
	bswap = "Z31" // byte-reversal mask for each 128-bit lane
	// GHASH
	acc  = 13 // X13: the GHASH accumulator in the byte-reflected domain, upper lanes zero
	poly = 14 // X14: 0xc2000000000000000000000000000001
	lo   = 8  // Z8, Z9, Z10: unreduced product low, high, middle
	hi   = 9
	mid  = 10
	t0   = 4 // Z4..Z7, Z11: temporaries
	t1   = 5
	t2   = 6
	t3   = 7
	t4   = 11
)

func z(i int) string { return fmt.Sprintf("Z%d", i) }
func y(i int) string { return fmt.Sprintf("Y%d", i) }
func x(i int) string { return fmt.Sprintf("X%d", i) }

// mask sets K1 to the low min(n, 64) bits, n > 0. (BZHI reads only the low byte of its
// index, so n is clamped first.)
func mask(n string) {
	p("MOVQ $64, R12")
	p("CMPQ %s, R12", n)
	p("CMOVQLT %s, R12", n)
	p("MOVQ $-1, R8")
	p("BZHIQ R12, R8, R8")
	p("KMOVQ R8, K1")
}

// mulAcc multiplies the four blocks in Z(d) by the four powers at pw (a memory operand or a
// register) and adds the 256-bit products into lo, hi, mid (first: sets them instead).
func mulAcc(d int, pw string, first bool) {
	if first {
		p("VPCLMULQDQ $0x00, %s, %s, %s", pw, z(d), z(lo))
		p("VPCLMULQDQ $0x11, %s, %s, %s", pw, z(d), z(hi))
		p("VPCLMULQDQ $0x01, %s, %s, %s", pw, z(d), z(mid))
		p("VPCLMULQDQ $0x10, %s, %s, %s", pw, z(d), z(t4))
		p("VPXORQ %s, %s, %s", z(t4), z(mid), z(mid))
		return
	}
	p("VPCLMULQDQ $0x00, %s, %s, %s", pw, z(d), z(t4))
	p("VPXORQ %s, %s, %s", z(t4), z(lo), z(lo))
	p("VPCLMULQDQ $0x11, %s, %s, %s", pw, z(d), z(t4))
	p("VPXORQ %s, %s, %s", z(t4), z(hi), z(hi))
	p("VPCLMULQDQ $0x01, %s, %s, %s", pw, z(d), z(t4))
	p("VPCLMULQDQ $0x10, %s, %s, %s", pw, z(d), z(d))
	p("VPTERNLOGD $0x96, %s, %s, %s", z(t4), z(d), z(mid))
}

// reduce folds mid into lo and hi, sums the four lanes and reduces modulo the GHASH
// polynomial into the accumulator (Gueron–Kounavis: two multiplications by 0xc2<<56).
func reduce() {
	p("VPSLLDQ $8, %s, %s", z(mid), z(t4))
	p("VPXORQ %s, %s, %s", z(t4), z(lo), z(lo))
	p("VPSRLDQ $8, %s, %s", z(mid), z(t4))
	p("VPXORQ %s, %s, %s", z(t4), z(hi), z(hi))
	for _, r := range []int{lo, hi} {
		p("VEXTRACTI64X4 $1, %s, %s", z(r), y(t4))
		p("VPXOR %s, %s, %s", y(t4), y(r), y(r))
		p("VEXTRACTI128 $1, %s, %s", y(r), x(t4))
		p("VPXOR %s, %s, %s", x(t4), x(r), x(r))
	}
	for range 2 {
		p("VPCLMULQDQ $0x01, %s, %s, %s", x(lo), x(poly), x(t4))
		p("VPSHUFD $0x4e, %s, %s", x(lo), x(lo))
		p("VPXOR %s, %s, %s", x(t4), x(lo), x(lo))
	}
	p("VPXOR %s, %s, %s", x(hi), x(lo), x(acc))
}

// Table layout: H^33..H^1 (528 bytes), then 64 zero bytes. 32 blocks are hashed per
// reduction; the 33rd power serves the lengths block after 32 final blocks.
const (
	groupBlocks = 32
	tabPowers   = groupBlocks + 1
	tabH1       = 16 * (tabPowers - 1) // offset of H^1
	lenReg      = 24                   // Z24: the lengths block (byte-reflected), upper lanes zero
	ej0         = 12                   // X12: E_K(J0)
)

// ghash absorbs n bytes at ptr (zero-padded to whole blocks) into the accumulator, 32 blocks
// per reduction with the powers H^32..H^1 in Z16..Z23 (table of H^33..H^1 at AX). withLen: the lengths
// block in Z24 follows the data and is absorbed too, in the same reduction as the last
// blocks. Clobbers ptr, n, DX.
func ghash(ptr, n, pfx string, withLen bool) {
	p("TESTQ %s, %s", n, n)
	p("JZ %s_empty", pfx)
	label(pfx + "_loop")
	p("CMPQ %s, $%d", n, 16*groupBlocks)
	p("JB %s_rest", pfx)
	for i := range groupBlocks / 4 {
		p("VMOVDQU64 %d(%s), %s", 64*i, ptr, z(i))
		p("VPSHUFB %s, %s, %s", bswap, z(i), z(i))
	}
	p("VPXORQ %s, Z0, Z0", z(acc))
	for i := range groupBlocks / 4 {
		mulAcc(i, z(16+i), i == 0)
	}
	reduce()
	p("ADDQ $%d, %s", 16*groupBlocks, ptr)
	p("SUBQ $%d, %s", 16*groupBlocks, n)
	p("JMP %s_loop", pfx)

	// The last 1..511 bytes: m = ceil(n/16) blocks against H^m..H^1 (H^(m+1)..H^2 when
	// the lengths block follows), 64 bytes at a time with masked (zeroing) loads; the lanes
	// past the end are zero.
	label(pfx + "_rest")
	p("TESTQ %s, %s", n, n)
	p("JZ %s_empty", pfx)
	p("LEAQ 15(%s), DX", n)
	p("SHRQ $4, DX")
	if withLen {
		p("INCQ DX")
	}
	p("SHLQ $4, DX")
	p("NEGQ DX")
	p("LEAQ %d(AX)(DX*1), DX", 16*tabPowers)
	p("VPXORQ %s, %s, %s", z(lo), z(lo), z(lo))
	p("VPXORQ %s, %s, %s", z(hi), z(hi), z(hi))
	p("VPXORQ %s, %s, %s", z(mid), z(mid), z(mid))
	label(pfx + "_chunk")
	mask(n)
	p("VMOVDQU8.Z (%s), K1, Z0", ptr)
	p("VPSHUFB %s, Z0, Z0", bswap)
	p("VPXORQ %s, Z0, Z0", z(acc))
	p("VPXOR %s, %s, %s", x(acc), x(acc), x(acc))
	p("VMOVDQU64 (DX), %s", z(t0))
	mulAcc(0, z(t0), false)
	p("ADDQ $64, %s", ptr)
	p("ADDQ $64, DX")
	p("SUBQ $64, %s", n)
	p("JG %s_chunk", pfx)
	if withLen {
		p("VMOVDQU64 %d(AX), %s", tabH1, z(t0))
		p("VMOVDQA64 %s, Z1", z(lenReg))
		mulAcc(1, z(t0), false)
	}
	reduce()
	if withLen {
		p("JMP %s_done", pfx)
	}
	label(pfx + "_empty")
	if withLen {
		// No data left: (acc ⊕ L)·H.
		p("VPXORQ %s, %s, Z0", z(acc), z(lenReg))
		p("VMOVDQU64 %d(AX), %s", tabH1, z(t0))
		mulAcc(0, z(t0), true)
		reduce()
	}
	label(pfx + "_done")
}

// func gcmVAESTag(nr int, ek, htab *byte, tag *[16]byte, aad *byte, aadLen int, ct *byte, ctLen int)
func genTag() {
	out.WriteString(`
// func gcmVAESTag(nr int, ek, htab *byte, tag *[16]byte, aad *byte, aadLen int, ct *byte, ctLen int)
// Computes the GCM tag of aad and ct: tag holds the counter block J0 on entry and
// GHASH_H(aad, ct) ⊕ E_K(J0) on return.
TEXT ·gcmVAESTag(SB), NOSPLIT, $0-64
`)
	p("MOVQ nr+0(FP), CX")
	p("MOVQ ek+8(FP), R11")
	p("MOVQ htab+16(FP), AX")
	p("MOVQ tag+24(FP), BX")
	// E_K(J0) first: independent of the hashing, so it overlaps with it.
	p("VMOVDQU (BX), %s", x(ej0))
	p("VPXOR (R11), %s, %s", x(ej0), x(ej0))
	p("ADDQ $16, R11")
	p("DECQ CX")
	label("tag_enc")
	p("VAESENC (R11), %s, %s", x(ej0), x(ej0))
	p("ADDQ $16, R11")
	p("DECQ CX")
	p("JNZ tag_enc")
	p("VAESENCLAST (R11), %s, %s", x(ej0), x(ej0))

	p("VBROADCASTI32X4 gcmVAESBswap<>(SB), %s", bswap)
	p("VMOVDQU gcmVAESPoly<>(SB), %s", x(poly))
	p("VPXOR %s, %s, %s", x(acc), x(acc), x(acc))
	for i := range groupBlocks / 4 {
		p("VMOVDQU64 %d(AX), %s", 16*(tabPowers-groupBlocks)+64*i, z(16+i))
	}
	// Lengths block: [len(A)]64 ‖ [len(C)]64 in bits; byte-reflected, the low quadword is
	// len(C) and the high one len(A).
	p("MOVQ aadLen+40(FP), R9")
	p("SHLQ $3, R9")
	p("MOVQ ctLen+56(FP), R10")
	p("SHLQ $3, R10")
	p("VMOVQ R10, X0")
	p("VPINSRQ $1, R9, X0, X0")
	p("VMOVDQA64 Z0, %s", z(lenReg))
	p("MOVQ aad+32(FP), SI")
	p("MOVQ aadLen+40(FP), CX")
	ghash("SI", "CX", "aad", false)
	p("MOVQ ct+48(FP), SI")
	p("MOVQ ctLen+56(FP), CX")
	ghash("SI", "CX", "ct", true)
	p("VPSHUFB X31, %s, %s", x(acc), x(acc))
	p("VPXOR %s, %s, %s", x(ej0), x(acc), x(acc))
	p("VMOVDQU %s, (BX)", x(acc))
	p("VZEROUPPER")
	p("RET")
}

// aesRounds encrypts Z(r) for r in regs with the round keys in Z16 (first), Z17.. (middle)
// and Z30 (last); nr in R11.
func aesRounds(regs []int, pfx string) {
	for _, r := range regs {
		p("VPXORQ Z16, %s, %s", z(r), z(r))
	}
	round := func(k int) {
		for _, r := range regs {
			p("VAESENC %s, %s, %s", z(16+k), z(r), z(r))
		}
	}
	for k := 1; k <= 9; k++ {
		round(k)
	}
	p("CMPQ R11, $10")
	p("JEQ %s_last", pfx)
	round(10)
	round(11)
	p("CMPQ R11, $12")
	p("JEQ %s_last", pfx)
	round(12)
	round(13)
	label(pfx + "_last")
	for _, r := range regs {
		p("VAESENCLAST Z30, %s, %s", z(r), z(r))
	}
}

// counters puts the next four counter blocks of each of regs into them (block byte order)
// and advances the byte-reflected counters in Z12 by 4 each time.
func counters(regs []int) {
	for _, r := range regs {
		p("VPSHUFB %s, Z12, %s", bswap, z(r))
		p("VPADDD Z13, Z12, Z12")
	}
}

func genCTR() {
	out.WriteString(`
// func gcmVAESCtr(nr int, ek *byte, ctr *[16]byte, dst, src *byte, n int)
// XORs n bytes at src with the CTR keystream starting at the counter block ctr (its last
// 32 bits a big-endian counter, incremented without carry into the nonce, as GCM's inc32)
// and writes them to dst (dst may equal src).
TEXT ·gcmVAESCtr(SB), NOSPLIT, $0-48
`)
	p("MOVQ nr+0(FP), R11")
	p("MOVQ ek+8(FP), AX")
	p("MOVQ ctr+16(FP), BX")
	p("MOVQ dst+24(FP), DI")
	p("MOVQ src+32(FP), SI")
	p("MOVQ n+40(FP), CX")
	p("TESTQ CX, CX")
	p("JZ ctr_ret")
	p("VBROADCASTI32X4 gcmVAESBswap<>(SB), %s", bswap)
	// Round keys: Z16 = k0, Z17..Z29 = k1..k(nr-1), Z30 = k(nr).
	for i := 0; i <= 13; i++ {
		p("VBROADCASTI32X4 %d(AX), %s", 16*i, z(16+i))
	}
	p("MOVQ R11, R9")
	p("SHLQ $4, R9")
	p("VBROADCASTI32X4 (AX)(R9*1), Z30")
	p("VBROADCASTI32X4 (BX), Z12")
	p("VPSHUFB %s, Z12, Z12", bswap)
	p("VPADDD gcmVAESLanes<>(SB), Z12, Z12")
	p("VBROADCASTI32X4 gcmVAESFour<>(SB), Z13")
	label("ctr_loop16")
	p("CMPQ CX, $256")
	p("JB ctr_rest")
	regs := []int{0, 1, 2, 3}
	counters(regs)
	aesRounds(regs, "ctr16")
	for i, r := range regs {
		p("VPXORQ %d(SI), %s, %s", 64*i, z(r), z(r))
	}
	for i, r := range regs {
		p("VMOVDQU64 %s, %d(DI)", z(r), 64*i)
	}
	p("ADDQ $256, SI")
	p("ADDQ $256, DI")
	p("SUBQ $256, CX")
	p("JMP ctr_loop16")

	label("ctr_rest")
	p("TESTQ CX, CX")
	p("JZ ctr_done")
	// 1..255 bytes: only as many vectors of four counter blocks as they need.
	for k := 1; k <= 4; k++ {
		pfx := fmt.Sprintf("ctr_rest%d", k)
		if k > 1 {
			label(pfx)
		}
		if k < 4 {
			p("CMPQ CX, $%d", 64*k)
			p("JA ctr_rest%d", k+1)
		}
		counters(regs[:k])
		aesRounds(regs[:k], pfx+"r")
		for _, r := range regs[:k] {
			mask("CX")
			p("VMOVDQU8.Z (SI), K1, %s", z(t0))
			p("VPXORQ %s, %s, %s", z(t0), z(r), z(r))
			p("VMOVDQU8 %s, K1, (DI)", z(r))
			p("ADDQ $64, SI")
			p("ADDQ $64, DI")
			p("SUBQ $64, CX")
		}
		p("JMP ctr_done")
	}
	label("ctr_done")
	p("VZEROUPPER")
	label("ctr_ret")
	p("RET")
}

func genEnc1() {
	out.WriteString(`
// func gcmVAESEnc1(nr int, ek *byte, dst, src *[16]byte)
// Encrypts one block.
TEXT ·gcmVAESEnc1(SB), NOSPLIT, $0-32
	MOVQ nr+0(FP), CX
	MOVQ ek+8(FP), AX
	MOVQ dst+16(FP), DI
	MOVQ src+24(FP), SI
	VMOVDQU (SI), X0
	VPXOR   (AX), X0, X0
	ADDQ    $16, AX
	DECQ    CX
enc1_round:
	VAESENC (AX), X0, X0
	ADDQ    $16, AX
	DECQ    CX
	JNZ     enc1_round
	VAESENCLAST (AX), X0, X0
	VMOVDQU X0, (DI)
	RET
`)
}

func main() {
	out.WriteString(`// Code generated by gcmvaes_gen.go; DO NOT EDIT.

//go:build amd64 && !purego

#include "textflag.h"

// AES-GCM kernels on VAES, VPCLMULQDQ and AVX-512 (F, VL, BW) plus BMI2 (see gcmvaes.go).
// Round keys are nr+1 consecutive 16-byte blocks as AES-NI loads them. The GHASH table holds
// H^33..H^1, each multiplied by x (the byte-reflected form of Gueron and Kounavis), as
// (low quadword, high quadword), followed by 64 zero bytes.

// Byte reversal of a 128-bit lane (VPSHUFB).
DATA gcmVAESBswap<>+0(SB)/8, $0x08090a0b0c0d0e0f
DATA gcmVAESBswap<>+8(SB)/8, $0x0001020304050607
GLOBL gcmVAESBswap<>(SB), RODATA|NOPTR, $16

// The reduction constant: x^128 + x^127 + x^126 + x^121 + 1, bit-reflected and shifted.
DATA gcmVAESPoly<>+0(SB)/8, $0x0000000000000001
DATA gcmVAESPoly<>+8(SB)/8, $0xc200000000000000
GLOBL gcmVAESPoly<>(SB), RODATA|NOPTR, $16

// Counter offsets 0, 1, 2, 3 of the four lanes (byte-reflected: the low doubleword).
DATA gcmVAESLanes<>+0(SB)/8, $0
DATA gcmVAESLanes<>+8(SB)/8, $0
DATA gcmVAESLanes<>+16(SB)/8, $1
DATA gcmVAESLanes<>+24(SB)/8, $0
DATA gcmVAESLanes<>+32(SB)/8, $2
DATA gcmVAESLanes<>+40(SB)/8, $0
DATA gcmVAESLanes<>+48(SB)/8, $3
DATA gcmVAESLanes<>+56(SB)/8, $0
GLOBL gcmVAESLanes<>(SB), RODATA|NOPTR, $64

// Counter increment of four blocks per lane.
DATA gcmVAESFour<>+0(SB)/8, $4
DATA gcmVAESFour<>+8(SB)/8, $0
GLOBL gcmVAESFour<>(SB), RODATA|NOPTR, $16
`)
	genTag()
	genCTR()
	genEnc1()
	os.Stdout.WriteString(out.String())
}

//go:build amd64 && !purego

#include "textflag.h"

// AES-CBC kernels on AES-NI (see aescbc.go). Round keys are (nr+1) consecutive 16-byte
// blocks; decryption keys are those of the equivalent inverse cipher. All loads and stores
// are unaligned (MOVOU); in-place operation is supported (each group of blocks is read
// before any of it is written).

// func cbcDecrypt(nr int, dk, dst, src *byte, n int, iv *byte)
TEXT ·cbcDecrypt(SB), NOSPLIT, $0-48
	MOVQ nr+0(FP), CX
	MOVQ dk+8(FP), AX
	MOVQ dst+16(FP), DI
	MOVQ src+24(FP), SI
	MOVQ n+32(FP), DX
	MOVQ iv+40(FP), BX
	MOVOU (BX), X11            // the previous ciphertext block

dec8:
	CMPQ DX, $8
	JB   dec1
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVOU 64(SI), X4
	MOVOU 80(SI), X5
	MOVOU 96(SI), X6
	MOVOU 112(SI), X7
	MOVOU (AX), X8
	PXOR  X8, X0
	PXOR  X8, X1
	PXOR  X8, X2
	PXOR  X8, X3
	PXOR  X8, X4
	PXOR  X8, X5
	PXOR  X8, X6
	PXOR  X8, X7
	LEAQ  16(AX), R9
	MOVQ  CX, R10
	DECQ  R10

dec8round:
	MOVOU  (R9), X8
	AESDEC X8, X0
	AESDEC X8, X1
	AESDEC X8, X2
	AESDEC X8, X3
	AESDEC X8, X4
	AESDEC X8, X5
	AESDEC X8, X6
	AESDEC X8, X7
	ADDQ   $16, R9
	DECQ   R10
	JNZ    dec8round
	MOVOU      (R9), X8
	AESDECLAST X8, X0
	AESDECLAST X8, X1
	AESDECLAST X8, X2
	AESDECLAST X8, X3
	AESDECLAST X8, X4
	AESDECLAST X8, X5
	AESDECLAST X8, X6
	AESDECLAST X8, X7

	// P_i = D(C_i) XOR C_(i-1); every C is read before any P is stored.
	PXOR  X11, X0
	MOVOU 0(SI), X9
	PXOR  X9, X1
	MOVOU 16(SI), X9
	PXOR  X9, X2
	MOVOU 32(SI), X9
	PXOR  X9, X3
	MOVOU 48(SI), X9
	PXOR  X9, X4
	MOVOU 64(SI), X9
	PXOR  X9, X5
	MOVOU 80(SI), X9
	PXOR  X9, X6
	MOVOU 96(SI), X9
	PXOR  X9, X7
	MOVOU 112(SI), X11
	MOVOU X0, 0(DI)
	MOVOU X1, 16(DI)
	MOVOU X2, 32(DI)
	MOVOU X3, 48(DI)
	MOVOU X4, 64(DI)
	MOVOU X5, 80(DI)
	MOVOU X6, 96(DI)
	MOVOU X7, 112(DI)
	ADDQ  $128, SI
	ADDQ  $128, DI
	SUBQ  $8, DX
	JMP   dec8

dec1:
	TESTQ DX, DX
	JZ    decdone
	MOVOU (SI), X0
	MOVOU X0, X10
	MOVOU (AX), X8
	PXOR  X8, X0
	LEAQ  16(AX), R9
	MOVQ  CX, R10
	DECQ  R10

dec1round:
	MOVOU  (R9), X8
	AESDEC X8, X0
	ADDQ   $16, R9
	DECQ   R10
	JNZ    dec1round
	MOVOU      (R9), X8
	AESDECLAST X8, X0
	PXOR       X11, X0
	MOVOU      X10, X11
	MOVOU      X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	DECQ       DX
	JMP        dec1

decdone:
	MOVOU X11, (BX)
	RET

// func cbcEncrypt4(nr int, ek, p0, p1, p2, p3 *byte, n int, ivs *byte)
TEXT ·cbcEncrypt4(SB), NOSPLIT, $0-64
	MOVQ nr+0(FP), CX
	MOVQ ek+8(FP), AX
	MOVQ p0+16(FP), SI
	MOVQ p1+24(FP), DI
	MOVQ p2+32(FP), R11
	MOVQ p3+40(FP), R12
	MOVQ n+48(FP), DX
	MOVQ ivs+56(FP), BX
	MOVOU 0(BX), X0            // the running chaining value of each lane
	MOVOU 16(BX), X1
	MOVOU 32(BX), X2
	MOVOU 48(BX), X3

enc4:
	TESTQ DX, DX
	JZ    enc4done
	MOVOU (SI), X4
	PXOR  X4, X0
	MOVOU (DI), X5
	PXOR  X5, X1
	MOVOU (R11), X6
	PXOR  X6, X2
	MOVOU (R12), X7
	PXOR  X7, X3
	MOVOU (AX), X8
	PXOR  X8, X0
	PXOR  X8, X1
	PXOR  X8, X2
	PXOR  X8, X3
	LEAQ  16(AX), R9
	MOVQ  CX, R10
	DECQ  R10

enc4round:
	MOVOU  (R9), X8
	AESENC X8, X0
	AESENC X8, X1
	AESENC X8, X2
	AESENC X8, X3
	ADDQ   $16, R9
	DECQ   R10
	JNZ    enc4round
	MOVOU      (R9), X8
	AESENCLAST X8, X0
	AESENCLAST X8, X1
	AESENCLAST X8, X2
	AESENCLAST X8, X3
	MOVOU      X0, (SI)
	MOVOU      X1, (DI)
	MOVOU      X2, (R11)
	MOVOU      X3, (R12)
	ADDQ       $16, SI
	ADDQ       $16, DI
	ADDQ       $16, R11
	ADDQ       $16, R12
	DECQ       DX
	JMP        enc4

enc4done:
	MOVOU X0, 0(BX)
	MOVOU X1, 16(BX)
	MOVOU X2, 32(BX)
	MOVOU X3, 48(BX)
	RET

// func cbcEncrypt1(nr int, ek, p *byte, n int, iv *byte)
TEXT ·cbcEncrypt1(SB), NOSPLIT, $0-40
	MOVQ nr+0(FP), CX
	MOVQ ek+8(FP), AX
	MOVQ p+16(FP), SI
	MOVQ n+24(FP), DX
	MOVQ iv+32(FP), BX
	MOVOU (BX), X0

enc1:
	TESTQ DX, DX
	JZ    enc1done
	MOVOU (SI), X4
	PXOR  X4, X0
	MOVOU (AX), X8
	PXOR  X8, X0
	LEAQ  16(AX), R9
	MOVQ  CX, R10
	DECQ  R10

enc1round:
	MOVOU  (R9), X8
	AESENC X8, X0
	ADDQ   $16, R9
	DECQ   R10
	JNZ    enc1round
	MOVOU      (R9), X8
	AESENCLAST X8, X0
	MOVOU      X0, (SI)
	ADDQ       $16, SI
	DECQ       DX
	JMP        enc1

enc1done:
	MOVOU X0, (BX)
	RET

// func aesimc(dst, src *byte)
TEXT ·aesimc(SB), NOSPLIT, $0-16
	MOVQ   dst+0(FP), DI
	MOVQ   src+8(FP), SI
	MOVOU  (SI), X0
	AESIMC X0, X1
	MOVOU  X1, (DI)
	RET

// func aesSubWord(x uint32) uint32
TEXT ·aesSubWord(SB), NOSPLIT, $0-12
	MOVL       x+0(FP), AX
	MOVQ       AX, X0
	PSHUFD     $0, X0, X0
	PXOR       X1, X1
	AESENCLAST X1, X0
	MOVQ       X0, AX
	MOVL       AX, ret+8(FP)
	RET

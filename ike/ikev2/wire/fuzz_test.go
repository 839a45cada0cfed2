package wire

// Fuzz targets for every decoder entry point. Seed corpora live in testdata/fuzz/FuzzXxx/
// (the strongSwan sessions, synthetic messages sealed with the fixed test keys, reassembly
// scripts); regenerate them with:
//
//	go test ./ike/ikev2/wire/ -run TestWriteFuzzCorpus -update-corpus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"oakley/crypto"
)

// panicTB lets test helpers run outside a test (building the fuzz targets' fixed ciphers); a
// helper failure there is a broken test setup and panics.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                      {}
func (panicTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (panicTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed corpora")

// checkTyped fails unless err is an *Error (decoders return nothing else).
func checkTyped(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	if e.Reason == "" || len(e.Unwrap()) == 0 {
		t.Fatalf("error without reason or sentinel: %v", err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	if m, err := EncodeMessage(sampleHeader(), samplePayloads()); err == nil {
		f.Add(m.Raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if m != nil {
				t.Fatal("message and error")
			}
			checkTyped(t, err)
			return
		}
		// Accepted input re-encodes to the same length and, decoded again, to the same structs
		// (only ignored RESERVED bits, critical bits of known payloads, the minor version and
		// undefined flags may differ, RFC 7296 §3.1, §3.2).
		out, err := EncodeMessage(m.Header, m.Payloads)
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
		if len(out.Raw) != len(b) {
			t.Fatalf("re-encoded %d bytes from %d", len(out.Raw), len(b))
		}
		d, err := DecodeMessage(out.Raw)
		if err != nil || d.Header != m.Header || !equalPayloads(d.Payloads, m.Payloads) {
			t.Fatalf("re-decode: %v", err)
		}
		again, _ := EncodeMessage(d.Header, d.Payloads)
		if !bytes.Equal(again.Raw, out.Raw) {
			t.Fatal("encoding is not deterministic")
		}
		for i, p := range m.Payloads {
			if !bytes.Equal(p.Raw(), m.Bytes[m.Spans[i].Start:m.Spans[i].End]) {
				t.Fatalf("payload %d: Raw is not its span", i)
			}
			if id, ok := p.(*Identification); ok && !bytes.Equal(id.RestOfIDPayload(), id.Body()) {
				t.Fatal("RestOfIDPayload is not the received body")
			}
		}
		// What the engine does next with a protected message: never panics.
		if m.Encrypted() != nil {
			_, _ = DecodeEncrypted(b, fuzzCiphers()[0].sk)
		}
		if m.Fragment() != nil {
			_, _ = DecodeFragment(b, fuzzCiphers()[0].sk)
		}
	})
}

type fuzzCipher struct {
	name string
	sk   *SKCipher
}

var (
	fuzzCipherOnce sync.Once
	fuzzCipherList []fuzzCipher
)

// fuzzCiphers are the fixed keys of FuzzDecodeEncrypted and FuzzReassemble: test keys for
// one suite of each construction, and the initiator keys of two strongSwan sessions, so that
// mutations of real messages get past the ICV check when the fuzzer keeps it intact.
func fuzzCiphers() []fuzzCipher {
	fuzzCipherOnce.Do(func() {
		t := panicTB{}
		for _, s := range []suite{{"aes128gcm16", ""}, {"aes256", "sha256"}, {"chacha20poly1305", ""}, {"3des", "sha1"}, {"aes256gcm8", ""}} {
			fuzzCipherList = append(fuzzCipherList, fuzzCipher{s.String(), newSuiteCipher(t, s, 1)})
		}
		for _, name := range []string{"psk-gcm", "psk-cbc"} {
			i2r, _ := loadRecording(t, name).sas[0].ciphers(t)
			fuzzCipherList = append(fuzzCipherList, fuzzCipher{"golden-" + name, i2r})
		}
	})
	return fuzzCipherList
}

// FuzzDecodeEncrypted opens fuzzed protected messages with a fixed key (sel picks it), and
// seals the fuzzed bytes as the decrypted content (payloads, padding and Pad Length as given)
// to exercise everything after the ICV check: padding removal and the inner decoder.
func FuzzDecodeEncrypted(f *testing.F) {
	sk := fuzzCiphers()[0].sk
	if m, err := EncodeEncrypted(sampleHeader(), innerPayloads(10), sk); err == nil {
		f.Add(uint8(0), uint8(PayloadNotify), m.Raw)
	}
	f.Fuzz(func(t *testing.T, sel, first uint8, b []byte) {
		cs := fuzzCiphers()
		c := cs[int(sel)%len(cs)].sk
		m, err := DecodeEncrypted(b, c)
		if err != nil {
			if m != nil {
				t.Fatal("message and error")
			}
			checkTyped(t, err)
		} else {
			checkCanonical(t, firstType(m), m.Inner)
		}

		// The fuzzed bytes as decrypted content, sealed with an AEAD (any length aligns).
		aead := cs[0].sk
		h := sampleHeader()
		sealedLen := aead.IVSize() + len(b) + aead.ICVSize()
		if len(b) == 0 || HeaderLen+4+sealedLen > MaxMessageLen {
			return
		}
		h.NextPayload, h.Length = PayloadSK, uint32(HeaderLen+4+sealedLen)
		hdr := append(h.Append(nil), first, 0)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(4+sealedLen))
		raw := append(hdr, sealExactQuiet(aead, hdr, b)...)
		m, err = DecodeEncrypted(raw, aead)
		pad := int(b[len(b)-1])
		switch {
		case errors.Is(err, ErrIntegrity):
			t.Fatalf("a correctly sealed message fails its ICV: %v", err)
		case pad+1 > len(b):
			if err == nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Pad Length %d of %d bytes: %v", pad, len(b), err)
			}
		case err != nil:
			var e *Error
			if !errors.As(err, &e) || !e.Inner {
				t.Fatalf("content error not marked Inner: %v", err)
			}
		default:
			if want := b[:len(b)-1-pad]; !bytes.Equal(m.Inner.Bytes, want) {
				t.Fatalf("inner %x, sealed %x", m.Inner.Bytes, want)
			}
			checkCanonical(t, PayloadType(first), m.Inner)
		}
	})
}

// sealExactQuiet seals content that already holds its padding (no test failure path).
func sealExactQuiet(sk *SKCipher, aad, content []byte) []byte {
	ivs := sk.IVSize()
	buf := make([]byte, ivs+len(content), ivs+len(content)+sk.c.Tailroom())
	copy(buf[ivs:], content)
	ops := []crypto.Op{{Seq: 1, AAD: aad, IV: buf[:ivs], Data: buf[ivs:]}}
	sk.c.SealBatch(ops)
	return buf[:len(buf)+sk.ICVSize()]
}

// FuzzReassemble runs a script of fragment operations against a Reassembler with small limits
// and a fake clock. Ops (one byte, then its operands):
//
//	0 mid flags num total len content: seal a fragment (first inner payload: Vendor ID) and add it
//	1 secs: advance the clock
//	2 len(2) bytes: decode a raw datagram as a fragment and add it if it verifies
//	3: Expire
//
// Invariants: no panic; typed errors; at most MaxPending reassemblies; the counters account for
// every fragment added; a completed message's content fits MaxBytes and re-encodes.
func FuzzReassemble(f *testing.F) {
	f.Add(fuzzScript(
		[]byte{0, 1, 0, 1, 2, 6, 0, 0, 0, 6, 'a', 'b'},
		[]byte{0, 1, 0, 2, 2, 3, 'c', 'd', 'e'},
	))
	limits := ReassemblyLimits{MaxFragments: 8, MaxBytes: 2000, MaxPending: 3, Timeout: 5 * time.Second}
	f.Fuzz(func(t *testing.T, script []byte) {
		sk := fuzzCiphers()[0].sk
		clock := newClock()
		r := NewReassembler(limits, clock.now)
		adds := uint64(0)
		add := func(fr *Fragment) {
			adds++
			m, err := r.Add(fr)
			if err != nil {
				checkTyped(t, err)
				return
			}
			if m != nil {
				if len(m.Inner.Bytes) > limits.MaxBytes {
					t.Fatalf("reassembled %d bytes", len(m.Inner.Bytes))
				}
				checkCanonical(t, firstType(m), m.Inner)
			}
		}
		for len(script) > 0 {
			op := script[0] % 4
			script = script[1:]
			switch op {
			case 0:
				if len(script) < 5 {
					return
				}
				mid, flags, num, total, n := script[0]%4, script[1], uint16(script[2]%12), uint16(script[3]%12), int(script[4])
				script = script[5:]
				if n > len(script) {
					n = len(script)
				}
				content := script[:n]
				script = script[n:]
				h := sampleHeader()
				h.MessageID, h.Flags = uint32(mid), Flags(flags)&flagsKnown
				if flags&0x80 != 0 {
					h.Exchange = ExchangeCreateChildSA
				}
				if num == 0 || total == 0 || num > total {
					// Not a valid SKF header: the decoder must refuse it before the ICV.
					b := h.Append(nil)
					b = append(b, 0, 0, 0, 8+40)
					b = binary.BigEndian.AppendUint16(b, num)
					b = binary.BigEndian.AppendUint16(b, total)
					b = append(b, make([]byte, 40)...)
					binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
					b[16] = byte(PayloadSKF)
					if _, err := DecodeFragment(b, sk); !errors.Is(err, ErrMalformed) {
						t.Fatalf("fragment %d of %d: %v", num, total, err)
					}
					continue
				}
				m, err := sealFragment(h, PayloadVendorID, num, total, content, sk)
				if err != nil {
					t.Fatal(err)
				}
				fr, err := DecodeFragment(m.Raw, sk)
				if err != nil {
					t.Fatalf("own fragment: %v", err)
				}
				add(fr)
			case 1:
				if len(script) < 1 {
					return
				}
				clock.advance(time.Duration(script[0]) * time.Second)
				script = script[1:]
			case 2:
				if len(script) < 2 {
					return
				}
				n := int(binary.BigEndian.Uint16(script))
				script = script[2:]
				if n > len(script) {
					n = len(script)
				}
				fr, err := DecodeFragment(script[:n], sk)
				script = script[n:]
				if err != nil {
					checkTyped(t, err)
					continue
				}
				add(fr)
			case 3:
				r.Expire()
			}
			if r.Pending() > limits.MaxPending {
				t.Fatalf("%d reassemblies pending", r.Pending())
			}
			st := r.Stats()
			if got := st.Stored + st.Duplicates + st.RefusedTooManyFragments + st.RefusedTooLarge +
				st.RefusedTooManyPending + st.RefusedStale + st.RefusedMismatch + st.RefusedInvalid; got != adds {
				t.Fatalf("counters %+v account for %d of %d fragments", st, got, adds)
			}
		}
	})
}

// fuzzScript concatenates script operations.
func fuzzScript(ops ...[]byte) []byte { return bytes.Join(ops, nil) }

// TestWriteFuzzCorpus writes the seed corpora (only with -update-corpus).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	// Files are overwritten, never deleted: inputs the fuzzer once found failing (hex-named
	// files) stay in the corpus as regression seeds.
	dir := func(name string) string {
		d := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	write := func(d, name string, args ...string) {
		body := "go test fuzz v1\n" + strings.Join(args, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bs := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	u8 := func(v int) string { return fmt.Sprintf("byte(%d)", v) }
	msgDir, encDir, reDir := dir("FuzzDecodeMessage"), dir("FuzzDecodeEncrypted"), dir("FuzzReassemble")

	cs := fuzzCiphers()
	golden := map[string]int{"psk-gcm": len(cs) - 2, "psk-cbc": len(cs) - 1}
	for _, name := range recordings {
		r := loadRecording(t, name)
		for _, v := range r.msgs {
			write(msgDir, name+"-"+v.label, bs(v.data))
			if sel, ok := golden[name]; ok && bytes.Contains([]byte(v.label), []byte("-req")) {
				if h, _ := DecodeHeader(v.data); h.FromInitiator() && h.SPIi == r.sas[0].spii {
					write(encDir, name+"-"+v.label, u8(sel), u8(0), bs(v.data))
				}
			}
		}
	}
	m, err := EncodeMessage(sampleHeader(), samplePayloads())
	if err != nil {
		t.Fatal(err)
	}
	write(msgDir, "synthetic-all-payloads", bs(m.Raw))
	for i, c := range cs[:5] {
		for _, n := range []int{0, 5, 40} {
			e, err := EncodeEncrypted(sampleHeader(), innerPayloads(n), c.sk)
			if err != nil {
				t.Fatal(err)
			}
			write(encDir, fmt.Sprintf("%s-%d", c.name, n), u8(i), u8(0), bs(e.Raw))
			write(msgDir, fmt.Sprintf("synthetic-sk-%s-%d", c.name, n), bs(e.Raw))
		}
		fr, err := EncodeFragments(sampleHeader(), bigInner(300), c.sk, 200)
		if err != nil {
			t.Fatal(err)
		}
		write(msgDir, "synthetic-skf-"+c.name, bs(fr[0].Raw))
	}
	// Decrypted-content seeds (the second half of FuzzDecodeEncrypted): chains with padding.
	chain := mustEncode(t, samplePayloads()[:8])
	write(encDir, "content-chain", u8(0), u8(int(PayloadSA)), bs(append(append(chain, 1, 2, 3), 3)))
	write(encDir, "content-bad-pad", u8(0), u8(int(PayloadSA)), bs(append(chain, 200)))
	write(encDir, "content-critical", u8(0), u8(201), bs([]byte{0, 0x80, 0, 5, 9, 0}))

	// Reassembly scripts.
	frag := func(mid, flags, num, total int, content []byte) []byte {
		return append([]byte{0, byte(mid), byte(flags), byte(num), byte(total), byte(len(content))}, content...)
	}
	vid := []byte{0, 0, 0, 8, 'o', 'a', 'k', 'l'}
	write(reDir, "in-order", bs(fuzzScript(frag(1, 8, 1, 2, vid[:5]), frag(1, 8, 2, 2, vid[5:]))))
	write(reDir, "out-of-order-dup", bs(fuzzScript(frag(1, 8, 2, 3, vid[3:6]), frag(1, 8, 2, 3, vid[3:6]),
		frag(1, 8, 3, 3, vid[6:]), frag(1, 8, 1, 3, vid[:3]))))
	write(reDir, "restart-stale", bs(fuzzScript(frag(2, 8, 1, 2, vid[:4]), frag(2, 8, 1, 4, vid[:2]),
		frag(2, 8, 2, 2, vid[4:]), frag(2, 8, 2, 4, vid[2:4]), frag(2, 8, 3, 4, vid[4:6]), frag(2, 8, 4, 4, vid[6:]))))
	write(reDir, "timeout", bs(fuzzScript(frag(3, 8, 1, 2, vid[:4]), []byte{1, 6}, frag(3, 8, 2, 2, vid[4:]), []byte{3})))
	write(reDir, "pending-mismatch", bs(fuzzScript(frag(0, 8, 1, 2, vid), frag(1, 8, 1, 2, vid), frag(2, 0x28, 1, 2, vid),
		frag(3, 8, 1, 2, vid), frag(0, 0x88, 2, 2, vid))))
	write(reDir, "too-many", bs(fuzzScript(frag(1, 8, 1, 11, vid))))
	ms, err := EncodeFragments(sampleHeader(), innerPayloads(30), cs[0].sk, 100)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, m := range ms {
		raw = append(raw, 2)
		raw = binary.BigEndian.AppendUint16(raw, uint16(len(m.Raw)))
		raw = append(raw, m.Raw...)
	}
	write(reDir, "raw-datagrams", bs(raw))
}

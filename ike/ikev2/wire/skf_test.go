package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// fakeClock is the injected clock of the reassembly tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

// bigInner is an inner chain of about n bytes.
func bigInner(n int) []Payload {
	return []Payload{
		&Identification{IDType: IDFQDN, Data: []byte("left.example")},
		&Certificate{Encoding: CertX509Signature, Data: seq(n, 3)},
		&Auth{Method: AuthSharedKeyMIC, Data: seq(32, 9)},
	}
}

// fragments encodes and decodes (verifies) the fragments of a message.
func fragments(t testing.TB, h Header, inner []Payload, sk *SKCipher, maxLen int) []*Fragment {
	t.Helper()
	ms, err := EncodeFragments(h, inner, sk, maxLen)
	if err != nil {
		t.Fatal(err)
	}
	fs := make([]*Fragment, len(ms))
	for i, m := range ms {
		if fs[i], err = DecodeFragment(m.Raw, sk); err != nil {
			t.Fatalf("fragment %d: %v", i+1, err)
		}
	}
	return fs
}

// Split, seal, open and reassemble for every suite, several sizes, in and out of order.
func TestFragmentRoundTripAllSuites(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range skSuites() {
		t.Run(s.String(), func(t *testing.T) {
			sk := newSuiteCipher(t, s, 1)
			for _, c := range []struct{ n, maxLen int }{{10, 1280}, {3000, 1280}, {3000, 576 - 28}, {5000, 200}, {60000, 1452}} {
				h := sampleHeader()
				inner := bigInner(c.n)
				ms, err := EncodeFragments(h, inner, sk, c.maxLen)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := EncodePayloads(inner)
				chunk := FragmentContentLen(c.maxLen, sk)
				if len(ms) != (len(want.Bytes)+chunk-1)/chunk {
					t.Fatalf("%d bytes in %d fragments of %d", len(want.Bytes), len(ms), chunk)
				}
				var fs []*Fragment
				for i, m := range ms {
					f := m.Fragment()
					if len(m.Raw) > c.maxLen || f.Number != uint16(i+1) || f.Total != uint16(len(ms)) ||
						m.Header.MessageID != h.MessageID || m.Header.NextPayload != PayloadSKF {
						t.Fatalf("fragment %d: %d bytes, %d/%d", i+1, len(m.Raw), f.Number, f.Total)
					}
					if (i == 0) != (f.NextPayload == PayloadIDi) || i > 0 && f.NextPayload != PayloadNone {
						t.Fatalf("fragment %d: Next Payload %v", i+1, f.NextPayload)
					}
					if i < len(ms)-1 && len(m.Raw) < c.maxLen-sk.BlockSize() {
						t.Fatalf("fragment %d of %d bytes is not full", i+1, len(m.Raw))
					}
					d, err := DecodeFragment(m.Raw, sk)
					if err != nil {
						t.Fatal(err)
					}
					fs = append(fs, d)
				}
				rng.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
				r := NewReassembler(ReassemblyLimits{MaxFragments: 1000}, nil)
				var got *Message
				for i, f := range fs {
					m, err := r.Add(f)
					if err != nil {
						t.Fatal(err)
					}
					if (m != nil) != (i == len(fs)-1) {
						t.Fatalf("after %d of %d fragments: %v", i+1, len(fs), m)
					}
					got = m
				}
				if !bytes.Equal(got.Inner.Bytes, want.Bytes) || !equalPayloads(got.Inner.Payloads, inner) || got.Header.MessageID != h.MessageID {
					t.Fatal("reassembled message differs")
				}
				if st := r.Stats(); st.Stored != uint64(len(fs)) || st.Completed != 1 || r.Pending() != 0 {
					t.Fatalf("stats %+v", st)
				}
			}
		})
	}
}

// Each fragment is authenticated on its own (RFC 7383 §2.5): a tampered byte, a wrong key,
// or a fragment number changed in the SKF header (covered by the AAD) is ErrIntegrity.
func TestFragmentTamperAndWrongKey(t *testing.T) {
	for _, s := range skSuites() {
		sk := newSuiteCipher(t, s, 1)
		ms, err := EncodeFragments(sampleHeader(), bigInner(500), sk, 300)
		if err != nil {
			t.Fatal(err)
		}
		raw := ms[1].Raw
		if _, err := DecodeFragment(raw, sk); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(raw); i++ {
			b := bytes.Clone(raw)
			b[i] ^= 0x01
			_, err := DecodeFragment(b, sk)
			if err == nil {
				t.Fatalf("%v: byte %d altered and accepted", s, i)
			}
			if (i < 16 || i >= 18 && i < 24 || i >= HeaderLen+4) && !errors.Is(err, ErrIntegrity) {
				if i >= HeaderLen+4 && i < HeaderLen+8 && errors.Is(err, ErrMalformed) {
					continue // a number beyond the total is rejected before the ICV
				}
				t.Fatalf("%v: byte %d: %v", s, i, err)
			}
		}
		if _, err := DecodeFragment(raw, newSuiteCipher(t, s, 2)); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("%v: wrong key: %v", s, err)
		}
	}
}

func TestFragmentErrors(t *testing.T) {
	sk := testCipher(t, "aes256", "sha256")
	if _, err := EncodeFragments(sampleHeader(), bigInner(10), sk, HeaderLen+8+16+16+15); !errors.Is(err, ErrEncode) {
		t.Fatalf("no room: %v", err)
	}
	if n := FragmentContentLen(HeaderLen+8+16+16+16, sk); n != 15 {
		t.Fatalf("FragmentContentLen %d", n)
	}
	if _, err := EncodeFragments(sampleHeader(), nil, nil, 1280); !errors.Is(err, ErrCipher) {
		t.Fatalf("nil cipher: %v", err)
	}
	// An empty chain still gives one fragment, with Next Payload 0.
	ms, err := EncodeFragments(sampleHeader(), nil, sk, 1280)
	if err != nil || len(ms) != 1 || ms[0].Fragment().NextPayload != PayloadNone {
		t.Fatalf("empty: %v %v", ms, err)
	}
	// SKF payload checks (RFC 7383 §2.5).
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"number 0", cat(u16(0), u16(1), make([]byte, 40))},
		{"total 0", cat(u16(1), u16(0), make([]byte, 40))},
		{"number above total", cat(u16(3), u16(2), make([]byte, 40))},
		{"short", []byte{0, 1, 0}},
	} {
		h := sampleHeader()
		b := gp(0, c.body)
		h.NextPayload, h.Length = PayloadSKF, uint32(HeaderLen+len(b))
		_, err := DecodeMessage(append(h.Append(nil), b...))
		wantErr(t, err, ErrMalformed, PayloadSKF)
	}
	// A later fragment with a non-zero Next Payload is accepted (the field is ignored).
	h := sampleHeader()
	m, err := sealFragment(h, PayloadIDi, 2, 2, []byte{1, 2, 3}, sk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFragment(m.Raw, sk); err != nil {
		t.Fatalf("Next Payload in fragment 2: %v", err)
	}
}

// The reassembly rules of RFC 7383 §2.6 and the limits, each with its counter.
func TestReassemblerRules(t *testing.T) {
	sk := testCipher(t, "aes128gcm16", "")
	clock := newClock()
	h := sampleHeader()
	fs := fragments(t, h, bigInner(1000), sk, 500) // 3 fragments
	if len(fs) != 3 {
		t.Fatalf("%d fragments", len(fs))
	}

	t.Run("duplicates ignored", func(t *testing.T) {
		r := NewReassembler(ReassemblyLimits{}, clock.now)
		mustAdd(t, r, fs[0], false)
		mustAdd(t, r, fs[0], false)
		mustAdd(t, r, fs[2], false)
		mustAdd(t, r, fs[1], true)
		if st := r.Stats(); st.Duplicates != 1 || st.Stored != 3 || st.Completed != 1 {
			t.Fatalf("%+v", st)
		}
	})

	t.Run("greater total restarts, smaller total is stale", func(t *testing.T) {
		r := NewReassembler(ReassemblyLimits{}, clock.now)
		small := fragments(t, h, bigInner(1000), sk, 1280) // 1 fragment: total 1
		big := fragments(t, h, bigInner(1000), sk, 300)    // more than 3
		mustAdd(t, r, fs[0], false)
		if _, err := r.Add(small[0]); !errors.Is(err, ErrFragmentRefused) {
			t.Fatalf("smaller total: %v", err)
		}
		mustAdd(t, r, big[0], false) // the sender lowered its fragment size: start again
		for i := 1; i < len(big)-1; i++ {
			mustAdd(t, r, big[i], false)
		}
		mustAdd(t, r, big[len(big)-1], true)
		if st := r.Stats(); st.RefusedStale != 1 || st.Restarted != 1 || st.Completed != 1 {
			t.Fatalf("%+v", st)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		r := NewReassembler(ReassemblyLimits{Timeout: 10 * time.Second}, clock.now)
		mustAdd(t, r, fs[0], false)
		mustAdd(t, r, fs[1], false)
		clock.advance(10 * time.Second)
		mustAdd(t, r, fs[2], false) // the first two expired: this starts a new reassembly
		if st := r.Stats(); st.Expired != 1 || r.Pending() != 1 {
			t.Fatalf("%+v pending %d", st, r.Pending())
		}
		clock.advance(9 * time.Second)
		mustAdd(t, r, fs[0], false)
		mustAdd(t, r, fs[1], true) // within the timeout of fs[2]
		clock.advance(time.Minute)
		r.Expire()
		if r.Pending() != 0 {
			t.Fatal("Expire left a reassembly")
		}
	})

	t.Run("limits", func(t *testing.T) {
		r := NewReassembler(ReassemblyLimits{MaxFragments: 2}, clock.now)
		if _, err := r.Add(fs[0]); !errors.Is(err, ErrFragmentRefused) {
			t.Fatalf("too many fragments: %v", err)
		}
		r = NewReassembler(ReassemblyLimits{MaxBytes: 800}, clock.now)
		mustAdd(t, r, fs[0], false)
		_, err := r.Add(fs[1])
		if !errors.Is(err, ErrFragmentRefused) || !errors.Is(err, ErrTooLarge) || r.Pending() != 0 {
			t.Fatalf("too large: %v, pending %d", err, r.Pending())
		}
		r = NewReassembler(ReassemblyLimits{MaxPending: 2}, clock.now)
		for mid := uint32(1); mid <= 3; mid++ {
			hh := h
			hh.MessageID = mid
			_, err := r.Add(fragments(t, hh, bigInner(1000), sk, 500)[0])
			if (err != nil) != (mid == 3) {
				t.Fatalf("message %d: %v", mid, err)
			}
		}
		if _, err := r.Add(nil); !errors.Is(err, ErrFragmentRefused) {
			t.Fatalf("nil: %v", err)
		}
		st := r.Stats()
		if st.RefusedTooManyPending != 1 || st.RefusedInvalid != 1 || r.Pending() != 2 {
			t.Fatalf("%+v", st)
		}
		r.Reset()
		if r.Pending() != 0 {
			t.Fatal("Reset")
		}
	})

	t.Run("requests and responses are apart; headers must agree", func(t *testing.T) {
		r := NewReassembler(ReassemblyLimits{}, clock.now)
		resp := h
		resp.Flags = FlagResponse
		rs := fragments(t, resp, bigInner(1000), sk, 500)
		mustAdd(t, r, fs[0], false)
		mustAdd(t, r, rs[0], false) // same message ID, the other direction
		if r.Pending() != 2 {
			t.Fatalf("pending %d", r.Pending())
		}
		other := h
		other.Exchange = ExchangeCreateChildSA
		os := fragments(t, other, bigInner(1000), sk, 500)
		if _, err := r.Add(os[1]); !errors.Is(err, ErrFragmentRefused) {
			t.Fatalf("other exchange: %v", err)
		}
		mustAdd(t, r, fs[1], false)
		mustAdd(t, r, fs[2], true)
		if st := r.Stats(); st.RefusedMismatch != 1 {
			t.Fatalf("%+v", st)
		}
	})

	t.Run("malformed reassembled content", func(t *testing.T) {
		r := NewReassembler(ReassemblyLimits{}, clock.now)
		a, _ := sealFragment(h, PayloadNonce, 1, 2, []byte{0, 0, 0}, sk)
		b, _ := sealFragment(h, PayloadNone, 2, 2, []byte{9}, sk) // Nonce of Payload Length 9, 0 bytes of data
		fa, _ := DecodeFragment(a.Raw, sk)
		fb, _ := DecodeFragment(b.Raw, sk)
		mustAdd(t, r, fa, false)
		_, err := r.Add(fb)
		if e := wantErr(t, err, ErrTruncated, PayloadNonce); !e.Inner {
			t.Fatalf("%+v", e)
		}
		if st := r.Stats(); st.Malformed != 1 || r.Pending() != 0 {
			t.Fatalf("%+v", st)
		}
	})

	t.Run("unprotected payloads of fragment 1", func(t *testing.T) {
		r := NewReassembler(ReassemblyLimits{}, clock.now)
		// Build fragment 1 with a Vendor ID in the clear before the SKF payload.
		m, _ := sealFragment(h, PayloadIDi, 1, 1, mustEncode(t, bigInner(10)), sk)
		f := m.Fragment()
		hh := h
		mm, err := EncodeMessage(hh, []Payload{&VendorID{Data: []byte("v")}, f})
		if err != nil {
			t.Fatal(err)
		}
		// Its AAD changed (the header's Next Payload and Length, the Vendor ID): re-seal it
		// the way a sender that puts payloads in the clear first would.
		aad := mm.Raw[:len(mm.Raw)-len(f.Data)]
		sealed, err := sk.Seal(aad, mustEncode(t, bigInner(10)))
		if err != nil {
			t.Fatal(err)
		}
		raw := append(bytes.Clone(aad), sealed...)
		fr, err := DecodeFragment(raw, sk)
		if err != nil {
			t.Fatal(err)
		}
		got := mustAdd(t, r, fr, true)
		if len(got.Payloads) != 1 || got.Payloads[0].Type() != PayloadVendorID || len(got.Inner.Payloads) != 3 {
			t.Fatalf("%v / %v", payloadTypes(got.Payloads), payloadTypes(got.Inner.Payloads))
		}
	})
}

func mustEncode(t testing.TB, ps []Payload) []byte {
	t.Helper()
	c, err := EncodePayloads(ps)
	if err != nil {
		t.Fatal(err)
	}
	return c.Bytes
}

func mustAdd(t *testing.T, r *Reassembler, f *Fragment, complete bool) *Message {
	t.Helper()
	m, err := r.Add(f)
	if err != nil {
		t.Fatalf("fragment %d/%d: %v", f.Number, f.Total, err)
	}
	if (m != nil) != complete {
		t.Fatalf("fragment %d/%d: complete=%v", f.Number, f.Total, m != nil)
	}
	return m
}

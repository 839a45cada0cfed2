package wire

import "testing"

// Benchmarks of the decode and protection paths on strongSwan-sized messages.

func BenchmarkDecodeIKESAInit(b *testing.B) {
	raw := loadRecording(b, "psk-cbc").msg(b, "01-IKE_SA_INIT-m0-req")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMessage(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEncryptedIKEAuth(b *testing.B) {
	for _, name := range []string{"psk-cbc", "psk-gcm"} {
		r := loadRecording(b, name)
		raw := r.msg(b, "03-IKE_AUTH-m1-req")
		sk := r.cipherFor(b, raw)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeEncrypted(raw, sk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeEncrypted(b *testing.B) {
	for _, s := range []suite{{"aes256", "sha256"}, {"aes128gcm16", ""}, {"chacha20poly1305", ""}} {
		sk := newSuiteCipher(b, s, 1)
		inner := bigInner(200)
		b.Run(s.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := EncodeEncrypted(sampleHeader(), inner, sk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFragmentAndReassemble(b *testing.B) {
	sk := newSuiteCipher(b, suite{"aes128gcm16", ""}, 1)
	inner := bigInner(4000) // a certificate-sized IKE_AUTH
	b.ReportAllocs()
	for b.Loop() {
		ms, err := EncodeFragments(sampleHeader(), inner, sk, 1248)
		if err != nil {
			b.Fatal(err)
		}
		r := NewReassembler(ReassemblyLimits{}, nil)
		var m *Message
		for _, f := range ms {
			fr, err := DecodeFragment(f.Raw, sk)
			if err != nil {
				b.Fatal(err)
			}
			if m, err = r.Add(fr); err != nil {
				b.Fatal(err)
			}
		}
		if m == nil {
			b.Fatal("not reassembled")
		}
	}
}

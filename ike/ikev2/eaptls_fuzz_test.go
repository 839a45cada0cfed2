package ikev2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzEAPTLSFragments feeds a sequence of EAP-TLS Type-Data (each prefixed by a 2-octet
// length) to the decoder and the reassembler. Invariants: no panic; every refusal is one
// of the two framing errors (which the EAP layer counts); a reassembled message is
// non-empty, within eapTLSMaxMessage, as long as an announced length, and survives being
// cut into fragments by eapTLSFrag and reassembled again. Seeds: testdata/fuzz.
func FuzzEAPTLSFragments(f *testing.F) {
	frame := func(pkts ...[]byte) []byte {
		var b []byte
		for _, p := range pkts {
			b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
			b = append(b, p...)
		}
		return b
	}
	f.Add(frame([]byte{eapTLSFlagS}))
	f.Add(frame([]byte{0}))
	f.Add(frame([]byte{eapTLSFlagL, 0, 0, 0, 3, 1, 2, 3}))
	f.Add(frame([]byte{eapTLSFlagL | eapTLSFlagM, 0, 0, 0, 4, 1, 2}, []byte{0, 3, 4}))
	f.Add(frame([]byte{eapTLSFlagL | eapTLSFlagM, 0, 1, 0, 1, 1}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r eapTLSReasm
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			d := in[:n]
			in = in[n:]
			p, err := parseEAPTLS(d)
			if err != nil {
				if !errors.Is(err, errEAPTLSMalformed) && !errors.Is(err, errEAPTLSOverflow) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			if p.start() || (p.ack() && !r.active) {
				continue
			}
			announced := uint32(0)
			if !r.active && p.flags&eapTLSFlagL != 0 {
				announced = p.length
			} else if r.active {
				announced = r.length
			}
			msg, err := r.add(p)
			if err != nil {
				if !errors.Is(err, errEAPTLSMalformed) && !errors.Is(err, errEAPTLSOverflow) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			if msg == nil {
				if !r.active || len(r.buf) > eapTLSMaxMessage {
					t.Fatalf("fragment kept: active %v, %d octets", r.active, len(r.buf))
				}
				continue
			}
			if len(msg) == 0 || len(msg) > eapTLSMaxMessage || (announced != 0 && uint32(len(msg)) != announced) || r.active {
				t.Fatalf("message of %d octets (announced %d)", len(msg), announced)
			}
			fr, again := eapTLSFrag{msg: msg}, eapTLSReasm{}
			var got []byte
			for fr.pending() {
				q, err := parseEAPTLS(fr.next())
				if err != nil {
					t.Fatal(err)
				}
				if got, err = again.add(q); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("fragmenting and reassembling changed the message")
			}
		}
	})
}

package ikev2

// EAP-TLS framing (RFC 5216 §3.1, RFC 9190 §2.1): the Type-Data of an EAP-TLS packet is a
// Flags octet, a 4-octet TLS Message Length when L is set, and TLS data. A TLS message
// (a flight of records) longer than one packet goes in fragments: every one but the last
// has M set, the first has L, and the receiver acknowledges each with an empty packet.
// Reassembly is bounded (eapTLSMaxMessage); what breaks the framing is an error the EAP
// layer refuses and counts.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	eapTypeTLS = 13

	eapTLSFlagL = 0x80 // Length included
	eapTLSFlagM = 0x40 // More fragments
	eapTLSFlagS = 0x20 // EAP-TLS Start

	// eapTLSMaxMessage bounds a reassembled TLS message (certificate chains are a few KiB).
	eapTLSMaxMessage = 64 << 10
	// eapTLSFragment is the TLS data of one EAP-TLS packet we send (strongSwan's default):
	// the IKE messages stay small, and IKE fragmentation is not needed for them.
	eapTLSFragment = 1024
)

var (
	// errEAPTLSMalformed is a packet that breaks the EAP-TLS framing.
	errEAPTLSMalformed = errors.New("malformed EAP-TLS packet")
	// errEAPTLSOverflow is a message longer than eapTLSMaxMessage.
	errEAPTLSOverflow = errors.New("EAP-TLS message too long")
)

// eapTLSPacket is one decoded EAP-TLS Type-Data.
type eapTLSPacket struct {
	flags  byte
	length uint32 // the TLS Message Length when L is set
	data   []byte // aliases the input
}

func (p eapTLSPacket) start() bool { return p.flags&eapTLSFlagS != 0 }
func (p eapTLSPacket) more() bool  { return p.flags&eapTLSFlagM != 0 }

// ack reports whether the packet is an empty acknowledgement (no flags, no data).
func (p eapTLSPacket) ack() bool {
	return p.flags&(eapTLSFlagL|eapTLSFlagM|eapTLSFlagS) == 0 && len(p.data) == 0
}

// parseEAPTLS decodes EAP-TLS Type-Data. Reserved flag bits are ignored (RFC 5216 §3.1).
func parseEAPTLS(d []byte) (eapTLSPacket, error) {
	if len(d) == 0 {
		return eapTLSPacket{}, fmt.Errorf("%w: no Flags octet", errEAPTLSMalformed)
	}
	p := eapTLSPacket{flags: d[0], data: d[1:]}
	if p.flags&eapTLSFlagL != 0 {
		if len(d) < 5 {
			return eapTLSPacket{}, fmt.Errorf("%w: L flag set but %d octets for the TLS Message Length", errEAPTLSMalformed, len(d)-1)
		}
		p.length = binary.BigEndian.Uint32(d[1:5])
		p.data = d[5:]
		if p.length > eapTLSMaxMessage {
			return eapTLSPacket{}, fmt.Errorf("%w: TLS Message Length %d, more than %d", errEAPTLSOverflow, p.length, eapTLSMaxMessage)
		}
		if uint32(len(p.data)) > p.length {
			return eapTLSPacket{}, fmt.Errorf("%w: %d octets of TLS data, more than the TLS Message Length %d", errEAPTLSMalformed, len(p.data), p.length)
		}
	}
	if p.start() && len(p.data) > 0 {
		return eapTLSPacket{}, fmt.Errorf("%w: Start with %d octets of data", errEAPTLSMalformed, len(p.data))
	}
	if p.more() && len(p.data) == 0 {
		return eapTLSPacket{}, fmt.Errorf("%w: M flag set on an empty fragment", errEAPTLSMalformed)
	}
	return p, nil
}

// eapTLSReasm reassembles one TLS message from fragments. Not safe for concurrent use (an
// IKE SA's, driven by its goroutine).
type eapTLSReasm struct {
	buf    []byte
	length uint32 // announced by the first fragment's L, 0 if none
	active bool   // fragments received, the last not yet
}

// add takes a packet carrying TLS data. It returns the message when the packet was its last
// fragment, or nil (and no error) when more are to come.
func (r *eapTLSReasm) add(p eapTLSPacket) ([]byte, error) {
	if !r.active {
		r.buf, r.length = nil, 0
		if p.flags&eapTLSFlagL != 0 {
			r.length = p.length
		}
	} else if p.flags&eapTLSFlagL != 0 && p.length != r.length {
		return nil, fmt.Errorf("%w: a later fragment announces %d octets, the first %d", errEAPTLSMalformed, p.length, r.length)
	}
	if len(r.buf)+len(p.data) > eapTLSMaxMessage {
		r.reset()
		return nil, fmt.Errorf("%w: more than %d octets in fragments", errEAPTLSOverflow, eapTLSMaxMessage)
	}
	r.buf = append(r.buf, p.data...)
	if r.length != 0 && uint32(len(r.buf)) > r.length {
		n := len(r.buf)
		r.reset()
		return nil, fmt.Errorf("%w: %d octets in fragments, more than the announced %d", errEAPTLSMalformed, n, r.length)
	}
	if p.more() {
		r.active = true
		return nil, nil
	}
	msg, length := r.buf, r.length
	r.reset()
	if length != 0 && uint32(len(msg)) != length {
		return nil, fmt.Errorf("%w: %d octets in fragments, the TLS Message Length says %d", errEAPTLSMalformed, len(msg), length)
	}
	if len(msg) == 0 {
		return nil, fmt.Errorf("%w: empty TLS message", errEAPTLSMalformed)
	}
	return msg, nil
}

func (r *eapTLSReasm) reset() { r.buf, r.length, r.active = nil, 0, false }

// eapTLSFrag cuts an outgoing TLS message into EAP-TLS packets.
type eapTLSFrag struct {
	msg []byte
	off int
}

// pending reports whether fragments remain to be sent.
func (f *eapTLSFrag) pending() bool { return f.off < len(f.msg) }

// next returns the Type-Data of the next fragment: L (with the whole length) on the first,
// M on all but the last.
func (f *eapTLSFrag) next() []byte {
	n := min(len(f.msg)-f.off, eapTLSFragment)
	var b []byte
	if f.off == 0 {
		b = make([]byte, 5, 5+n)
		b[0] = eapTLSFlagL
		binary.BigEndian.PutUint32(b[1:], uint32(len(f.msg)))
	} else {
		b = make([]byte, 1, 1+n)
	}
	b = append(b, f.msg[f.off:f.off+n]...)
	f.off += n
	if f.pending() {
		b[0] |= eapTLSFlagM
	}
	return b
}

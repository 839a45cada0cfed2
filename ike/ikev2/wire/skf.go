package wire

// IKEv2 message fragmentation (RFC 7383): the Encrypted Fragment payload, splitting a message
// into separately protected fragments, and opening one. Reassembly is in reassembly.go.

import (
	"encoding/binary"
)

// EncryptedFragment is the Encrypted and Authenticated Fragment payload, SKF (RFC 7383 §2.5):
//
//	generic header (Next Payload = first inner payload type in fragment 1, else 0) |
//	Fragment Number (2) | Total Fragments (2) |
//	Initialization Vector | Encrypted content | Padding | Pad Length | Integrity Checksum Data
//
// The decoder checks 1 <= Fragment Number <= Total Fragments. A non-zero Next Payload in a
// later fragment is ignored, as strongSwan does (the sender "MUST" send zero). Data holds the
// protected part after Total Fragments; DecodeFragment opens it.
//
// EncryptedFragment is plain data: safe for concurrent reads, not for concurrent mutation.
type EncryptedFragment struct {
	wire
	NextPayload PayloadType
	Number      uint16
	Total       uint16
	Data        []byte
}

// Type returns PayloadSKF.
func (*EncryptedFragment) Type() PayloadType { return PayloadSKF }

// skfHeaderLen is the SKF payload header: generic header, Fragment Number, Total Fragments.
const skfHeaderLen = genericHeaderLen + 4

func decodeSKF(raw []byte, off int) (*EncryptedFragment, error) {
	if len(raw) < skfHeaderLen {
		return nil, errAt(PayloadSKF, off, ErrMalformed, "payload of %d bytes cannot hold Fragment Number and Total Fragments", len(raw))
	}
	f := &EncryptedFragment{
		NextPayload: PayloadType(raw[0]),
		Number:      binary.BigEndian.Uint16(raw[4:]),
		Total:       binary.BigEndian.Uint16(raw[6:]),
		Data:        raw[skfHeaderLen:],
	}
	if f.Number == 0 || f.Total == 0 || f.Number > f.Total {
		return nil, errAt(PayloadSKF, off+4, ErrMalformed, "Fragment Number %d of Total Fragments %d", f.Number, f.Total)
	}
	return f, nil
}

func (f *EncryptedFragment) appendBody(b []byte) ([]byte, error) {
	if f.Number == 0 || f.Total == 0 || f.Number > f.Total {
		return nil, errEnc(PayloadSKF, "Fragment Number %d of Total Fragments %d", f.Number, f.Total)
	}
	b = binary.BigEndian.AppendUint16(b, f.Number)
	b = binary.BigEndian.AppendUint16(b, f.Total)
	return append(b, f.Data...), nil
}

// Fragment is one verified and decrypted SKF message, ready for a Reassembler.
//
// Fragment is plain data: safe for concurrent reads, not for concurrent mutation.
type Fragment struct {
	// Header is the fragment's IKE header (Length is the fragment's).
	Header Header
	// Outer holds payloads in the clear before the SKF payload; RFC 7383 §2.5.2 puts any in
	// the first fragment.
	Outer []Payload
	// Number and Total are the SKF payload's Fragment Number and Total Fragments.
	Number, Total uint16
	// NextPayload is the SKF payload's Next Payload: the first inner payload's type in
	// fragment 1.
	NextPayload PayloadType
	// Content is this fragment's decrypted part of the inner payload chain.
	Content []byte
}

// DecodeFragment decodes a message whose last payload is SKF (DecodeMessage), verifies and
// decrypts the fragment with sk (RFC 7383 §2.5: the associated data is the message from the
// IKE header through Total Fragments) and returns it for a Reassembler. "The receiver MUST
// check the ICV of each fragment before storing it" (RFC 7383 §2.6): only a Fragment that
// passed it exists. An SK payload is ErrNotEncrypted.
func DecodeFragment(b []byte, sk *SKCipher) (*Fragment, error) {
	m, err := DecodeMessage(b)
	if err != nil {
		return nil, err
	}
	f := m.Fragment()
	if f == nil {
		return nil, errAt(PayloadNone, HeaderLen, ErrNotEncrypted, "the message has no SKF payload")
	}
	if sk == nil {
		return nil, errNoOff(PayloadSKF, ErrCipher, "no cipher")
	}
	off := HeaderLen + m.Spans[len(m.Spans)-1].Start
	plain, err := sk.Open(m.Raw[:off+skfHeaderLen], f.Data)
	if err != nil {
		e := err.(*Error)
		e.Payload, e.Offset = PayloadSKF, off
		return nil, e
	}
	return &Fragment{
		Header:      m.Header,
		Outer:       m.Payloads[: len(m.Payloads)-1 : len(m.Payloads)-1],
		Number:      f.Number,
		Total:       f.Total,
		NextPayload: f.NextPayload,
		Content:     plain,
	}, nil
}

// FragmentContentLen is how many octets of the inner payload chain fit one fragment of at most
// maxLen octets (the IKE message, i.e. without IP and UDP headers and the non-ESP marker):
// maxLen minus the IKE header, the SKF header, IV and ICV, rounded down to the cipher's block,
// minus the Pad Length octet (RFC 7383 §2.5.1, strongSwan computes the same). 0 if nothing fits.
func FragmentContentLen(maxLen int, sk *SKCipher) int {
	avail := maxLen - HeaderLen - skfHeaderLen - sk.IVSize() - sk.ICVSize()
	if avail <= 0 {
		return 0
	}
	n := avail/sk.BlockSize()*sk.BlockSize() - 1
	return max(n, 0)
}

// EncodeFragments splits a protected message into SKF fragments of at most maxLen octets each
// (RFC 7383 §2.5): the inner chain is encoded once and cut into FragmentContentLen pieces, each
// sealed separately with the IKE header (same Message ID, exchange and flags in every fragment)
// and its own SKF header as associated data. Fragment 1's Next Payload names the first inner
// payload, the others carry 0. It returns the fragments in order (Total = len); a chain that
// fits one fragment still gives one SKF message (whether to fragment at all is the engine's
// choice: only after IKEV2_FRAGMENTATION_SUPPORTED was exchanged, only if the message would not
// fit, never IKE_SA_INIT, RFC 7383 §2.5).
func EncodeFragments(h Header, inner []Payload, sk *SKCipher, maxLen int) ([]*Message, error) {
	if err := h.checkEncode(); err != nil {
		return nil, err
	}
	if sk == nil {
		return nil, errNoOff(PayloadSKF, ErrCipher, "no cipher")
	}
	chunk := FragmentContentLen(min(maxLen, MaxMessageLen), sk)
	if chunk < 1 {
		return nil, errEnc(PayloadSKF, "fragments of %d bytes cannot carry any content with %s", maxLen, sk)
	}
	c, err := EncodePayloads(inner)
	if err != nil {
		return nil, err
	}
	first := PayloadNone
	if len(inner) > 0 {
		first = inner[0].Type()
	}
	total := max(1, (len(c.Bytes)+chunk-1)/chunk)
	if total > 0xffff {
		return nil, errEnc(PayloadSKF, "%d bytes need %d fragments of %d", len(c.Bytes), total, chunk)
	}
	msgs := make([]*Message, 0, total)
	for i := 0; i < total; i++ {
		part := c.Bytes[i*chunk : min((i+1)*chunk, len(c.Bytes))]
		m, err := sealFragment(h, first, uint16(i+1), uint16(total), part, sk)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			m.Inner = c
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// sealFragment builds one SKF message carrying part.
func sealFragment(h Header, first PayloadType, num, total uint16, part []byte, sk *SKCipher) (*Message, error) {
	next := PayloadNone
	if num == 1 {
		next = first
	}
	sealedLen := sk.SealedLen(len(part))
	size := HeaderLen + skfHeaderLen + sealedLen
	h.NextPayload, h.Length = PayloadSKF, uint32(size)
	b := h.Append(make([]byte, 0, size))
	b = append(b, byte(next), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(skfHeaderLen+sealedLen))
	b = binary.BigEndian.AppendUint16(b, num)
	b = binary.BigEndian.AppendUint16(b, total)
	sealed, err := sk.Seal(b, part)
	if err != nil {
		return nil, err
	}
	b = append(b, sealed...)
	f := &EncryptedFragment{NextPayload: next, Number: num, Total: total, Data: b[HeaderLen+skfHeaderLen:]}
	return &Message{
		Header: h,
		Chain:  Chain{Payloads: []Payload{f}, Bytes: b[HeaderLen:], Spans: []Span{{0, skfHeaderLen + sealedLen}}},
		Raw:    b,
	}, nil
}

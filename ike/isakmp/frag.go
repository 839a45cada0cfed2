package isakmp

import "encoding/binary"

// Fragment is the IKEv1 fragmentation payload, type 132, as Cisco defined it and strongSwan
// implements it (announced with the FRAGMENTATION vendor ID):
//
//	generic header | Fragment ID (2) | Fragment Number (1) | Flags (1) | Fragment Data
//
// A FRAG payload is the only payload of its message. The fragments of one message share
// the Fragment ID, are numbered from 1, and the last has the LAST flag; the concatenated
// Fragment Data is the whole original datagram, ISAKMP header included (usually with the
// E flag set). Reassembly holds state, so it is the state machine's job.
//
// Fragment is plain data: safe for concurrent reads, not for concurrent mutation.
type Fragment struct {
	wire
	ID     uint16
	Number uint8
	Flags  FragmentFlags
	Data   []byte
}

// FragmentFlags are the flags of a Fragment payload.
type FragmentFlags uint8

// FragmentLast marks the last fragment of a message.
const FragmentLast FragmentFlags = 0x01

// Last reports whether f is the last fragment of its message.
func (f *Fragment) Last() bool { return f.Flags&FragmentLast != 0 }

// Type returns PayloadFragment.
func (*Fragment) Type() PayloadType { return PayloadFragment }

const fragmentFixedLen = 4

// decodeFragment decodes a FRAG payload body (Cisco/strongSwan IKEv1 fragmentation).
func decodeFragment(body []byte, off int) (*Fragment, error) {
	if len(body) < fragmentFixedLen {
		return nil, errAt(PayloadFragment, off, ErrMalformed, "body of %d bytes cannot hold Fragment ID, Number and Flags", len(body))
	}
	return &Fragment{
		ID:     binary.BigEndian.Uint16(body[0:2]),
		Number: body[2],
		Flags:  FragmentFlags(body[3]),
		Data:   body[fragmentFixedLen:],
	}, nil
}

func (f *Fragment) appendBody(b []byte) ([]byte, error) {
	if f == nil {
		return nil, errEnc(PayloadFragment, "nil payload")
	}
	b = binary.BigEndian.AppendUint16(b, f.ID)
	b = append(b, f.Number, byte(f.Flags))
	return append(b, f.Data...), nil
}

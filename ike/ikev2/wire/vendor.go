package wire

// VendorID is the Vendor ID payload (RFC 7296 §3.12): generic header | Vendor ID (VID), "of
// any length"; an empty one is refused, it could not identify anything.
//
// VendorID is plain data: safe for concurrent reads, not for concurrent mutation.
type VendorID struct {
	wire
	Data []byte
}

// Type returns PayloadVendorID.
func (*VendorID) Type() PayloadType { return PayloadVendorID }

func decodeVendorID(body []byte, off int) (*VendorID, error) {
	if len(body) == 0 {
		return nil, errAt(PayloadVendorID, off, ErrMalformed, "empty Vendor ID")
	}
	return &VendorID{Data: body}, nil
}

func (v *VendorID) appendBody(b []byte) ([]byte, error) {
	if len(v.Data) == 0 {
		return nil, errEnc(PayloadVendorID, "empty Vendor ID")
	}
	return append(b, v.Data...), nil
}

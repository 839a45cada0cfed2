package wire

// Nonce lengths (RFC 7296 §3.9): "The size of the Nonce Data MUST be between 16 and 256
// octets, inclusive." (§2.10 adds: at least half the PRF's key size; that is the engine's.)
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

// Nonce is the Nonce payload, Ni or Nr (RFC 7296 §3.9): generic header | Nonce Data.
//
// Nonce is plain data: safe for concurrent reads, not for concurrent mutation.
type Nonce struct {
	wire
	Data []byte
}

// Type returns PayloadNonce.
func (*Nonce) Type() PayloadType { return PayloadNonce }

func decodeNonce(body []byte, off int) (*Nonce, error) {
	if len(body) < MinNonceLen || len(body) > MaxNonceLen {
		return nil, errAt(PayloadNonce, off, ErrMalformed, "Nonce Data of %d bytes (§3.9: %d..%d)", len(body), MinNonceLen, MaxNonceLen)
	}
	return &Nonce{Data: body}, nil
}

func (n *Nonce) appendBody(b []byte) ([]byte, error) {
	if len(n.Data) < MinNonceLen || len(n.Data) > MaxNonceLen {
		return nil, errEnc(PayloadNonce, "Nonce Data of %d bytes (§3.9: %d..%d)", len(n.Data), MinNonceLen, MaxNonceLen)
	}
	return append(b, n.Data...), nil
}

package esp

import ocrypto "oakley/crypto"

// Headroom and Tailroom are the spare bytes a data-plane buffer keeps before and after a
// packet so that encapsulation never copies: room for a virtio-net header, an outer IPv6 and UDP
// header, the ESP header and IV (or an AH header) and the 4 bytes of ESN scratch in front; and
// for padding, the trailer and the largest ICV behind.
const (
	Headroom = 128
	Tailroom = 64
)

// Batch is a set of packets processed together. Packet i occupies
// Bufs[i][Offs[i] : Offs[i]+Sizes[i]]; Bufs[i] is the whole buffer (headroom and tailroom
// included), so encapsulation grows a packet in place. Only the first N entries are in use.
// Errs[i] != nil marks a packet that failed (or that the caller excluded) and is skipped by
// every later stage. A Batch belongs to one goroutine at a time.
type Batch struct {
	Bufs  [][]byte
	Offs  []int
	Sizes []int
	Errs  []error
	N     int

	ops      []ocrypto.Op  // scratch for the crypto layer, one per packet
	idx      []int         // ops[k] belongs to packet idx[k]
	innerLen []int         // outbound: the inner packet length of ops[k], for lifetimes
	verdicts *verdictCache // inbound policy-check verdicts (allocated on first use)
}

// NewBatch allocates a batch of capacity n whose buffers hold bufSize bytes each.
func NewBatch(n, bufSize int) *Batch {
	b := &Batch{
		Bufs:     make([][]byte, n),
		Offs:     make([]int, n),
		Sizes:    make([]int, n),
		Errs:     make([]error, n),
		ops:      make([]ocrypto.Op, n),
		idx:      make([]int, n),
		innerLen: make([]int, n),
	}
	backing := make([]byte, n*bufSize)
	for i := range b.Bufs {
		b.Bufs[i] = backing[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]
	}
	return b
}

// Cap is the number of packets the batch can hold.
func (b *Batch) Cap() int { return len(b.Bufs) }

// Packet returns packet i's bytes.
func (b *Batch) Packet(i int) []byte { return b.Bufs[i][b.Offs[i] : b.Offs[i]+b.Sizes[i]] }

// Set places a packet of n bytes at offset off of buffer i and clears its error.
func (b *Batch) Set(i, off, n int) {
	b.Offs[i], b.Sizes[i], b.Errs[i] = off, n, nil
}

// Reset clears the errors of the first n packets and sets N.
func (b *Batch) Reset(n int) {
	b.N = n
	clear(b.Errs[:n])
}

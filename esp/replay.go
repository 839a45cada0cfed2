package esp

// Anti-replay window, RFC 4303 §3.4.3 with the shift-free bitmap of RFC 6479 and the
// extended-sequence-number inference of RFC 4303 Appendix A.
//
// A Window is not safe for concurrent use; an SA guards its window with a mutex.

import "errors"

var (
	// ErrReplay: the sequence number was already received, or is left of the window.
	ErrReplay = errors.New("esp: replayed packet")
)

const wordBits = 64

// Window tracks which of the last Size() sequence numbers were received.
type Window struct {
	top    uint64   // highest sequence number accepted so far (0: none yet)
	bitmap []uint64 // ring of words; one more word than the window needs, RFC 6479 §2
	size   uint64   // window size in packets (a multiple of 64)
}

// NewWindow returns a window of at least size packets (rounded up to a multiple of 64).
// size 0 disables replay protection: every authenticated packet is accepted.
func NewWindow(size int) *Window {
	if size <= 0 {
		return &Window{}
	}
	words := (size + wordBits - 1) / wordBits
	return &Window{bitmap: make([]uint64, words+1), size: uint64(words * wordBits)}
}

// Size is the number of sequence numbers the window spans (0 = disabled).
func (w *Window) Size() int { return int(w.size) }

// Top is the highest sequence number accepted so far.
func (w *Window) Top() uint64 { return w.top }

// InferESN reconstructs a 64-bit sequence number from the 32 low-order bits a packet carries,
// RFC 4303 Appendix A2.2. The result is a guess that only integrity verification confirms.
func (w *Window) InferESN(seql uint32) uint64 {
	tl := uint32(w.top)
	th := uint32(w.top >> 32)
	win := uint32(max(w.size, 1))
	var seqh uint32
	if tl >= win-1 { // Case A: the window lies within one sequence-number subspace
		if seql >= tl-win+1 {
			seqh = th
		} else {
			seqh = th + 1
		}
	} else { // Case B: the window spans two subspaces
		if seql >= tl-win+1 { // wraps: seql lies in the upper (older) subspace
			seqh = th - 1
		} else {
			seqh = th
		}
		if th == 0 && seql >= tl-win+1 {
			seqh = 0 // there is no subspace below the first
		}
	}
	return uint64(seqh)<<32 | uint64(seql)
}

// Check reports whether seq may be accepted, without changing the window (the pre-check of
// RFC 4303 §3.4.3, done before the ICV is verified).
func (w *Window) Check(seq uint64) error {
	if seq == 0 {
		return ErrReplay // sequence numbers start at 1, RFC 4303 §3.3.3
	}
	if w.size == 0 || seq > w.top {
		return nil
	}
	if w.top-seq >= w.size {
		return ErrReplay
	}
	if w.bitmap[w.index(seq)]&(1<<(seq%wordBits)) != 0 {
		return ErrReplay
	}
	return nil
}

// Update records seq as received; call it only after the ICV verified. It re-checks, so that a
// duplicate decrypted concurrently with its original is still caught.
func (w *Window) Update(seq uint64) error {
	if err := w.Check(seq); err != nil {
		return err
	}
	if w.size == 0 {
		w.top = max(w.top, seq)
		return nil
	}
	if seq > w.top {
		// RFC 6479 §2: clear the words the window slides over, never shift bits.
		oldWord, newWord := w.top/wordBits, seq/wordBits
		n := uint64(len(w.bitmap))
		if newWord-oldWord >= n {
			clear(w.bitmap)
		} else {
			for i := oldWord + 1; i <= newWord; i++ {
				w.bitmap[i%n] = 0
			}
		}
		w.top = seq
	}
	w.bitmap[w.index(seq)] |= 1 << (seq % wordBits)
	return nil
}

func (w *Window) index(seq uint64) uint64 { return (seq / wordBits) % uint64(len(w.bitmap)) }

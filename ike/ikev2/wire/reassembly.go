package wire

// Reassembly of IKEv2 fragments (RFC 7383 §2.6).
//
// Concurrency contract: a *Reassembler is safe for concurrent use (one mutex); the engine holds
// one per IKE SA and feeds it from the SA's event loop. Time comes from the injected clock only.

import (
	"sync"
	"time"
)

// ReassemblyLimits bound what a Reassembler holds. Zero fields take the defaults.
type ReassemblyLimits struct {
	// MaxFragments is the largest Total Fragments accepted (default 128: a MaxMessageLen
	// message in fragments of 576-byte IPv4 datagrams needs 126).
	MaxFragments int
	// MaxBytes bounds the decrypted content of one message (default MaxMessageLen).
	MaxBytes int
	// MaxPending bounds the messages being reassembled at once (default 4: IKEv2's default
	// window is 1 in each direction, RFC 7296 §2.3).
	MaxPending int
	// Timeout drops a reassembly whose first fragment arrived this long ago (default 30s).
	Timeout time.Duration
}

// Default reassembly limits.
const (
	DefaultMaxFragments = 128
	DefaultMaxPending   = 4
	DefaultTimeout      = 30 * time.Second
)

func (l ReassemblyLimits) withDefaults() ReassemblyLimits {
	if l.MaxFragments <= 0 {
		l.MaxFragments = DefaultMaxFragments
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = MaxMessageLen
	}
	if l.MaxPending <= 0 {
		l.MaxPending = DefaultMaxPending
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}

// ReassemblyStats counts what a Reassembler did. Every fragment handed to Add lands in exactly
// one of Stored, Duplicates and the Refused* counters; Completed and Malformed count the
// messages whose last fragment arrived, Restarted and Expired the reassemblies discarded.
type ReassemblyStats struct {
	Stored     uint64 // fragments kept
	Duplicates uint64 // a fragment number already held: ignored (a retransmission)
	Completed  uint64 // messages reassembled and decoded
	Malformed  uint64 // messages reassembled whose inner payloads did not decode
	// Restarted: a fragment announced more Total Fragments than the stored ones, which were
	// dropped to start again (RFC 7383 §2.6: the sender lowered its fragment size).
	Restarted uint64
	Expired   uint64 // reassemblies dropped by the timeout

	RefusedTooManyFragments uint64 // Total Fragments above MaxFragments
	RefusedTooLarge         uint64 // content beyond MaxBytes (the reassembly is dropped too)
	RefusedTooManyPending   uint64 // a new message while MaxPending are in progress
	RefusedStale            uint64 // fewer Total Fragments than the stored ones (RFC 7383 §2.6)
	RefusedMismatch         uint64 // exchange type, flags or SPIs differ from the message's first fragment
	RefusedInvalid          uint64 // not a fragment (nil, or Fragment Number outside 1..Total)
}

// reassemblyKey names one message in progress: IKE message IDs are per direction, told apart
// by the R flag (a peer's requests and its responses to ours share the IKE SA).
type reassemblyKey struct {
	mid      uint32
	response bool
}

type reassembly struct {
	hdr     Header // of the first fragment received
	total   uint16
	parts   [][]byte // by Fragment Number - 1
	got     int
	bytes   int
	first   PayloadType // from fragment 1
	outer   []Payload   // from fragment 1
	started time.Time
}

// Reassembler rebuilds fragmented IKEv2 messages (RFC 7383 §2.6) from verified Fragments
// (DecodeFragment): one per IKE SA, bounded by ReassemblyLimits, with time from an injected
// clock. What is refused is counted in Stats and reported as ErrFragmentRefused; nothing a
// peer sends can make it hold more than MaxPending × MaxBytes of content.
//
// The engine hands it only fragments of message IDs it is willing to process (the window of
// RFC 7296 §2.3) and answers a completed request as it would an unfragmented one.
type Reassembler struct {
	mu      sync.Mutex
	limits  ReassemblyLimits
	now     func() time.Time
	pending map[reassemblyKey]*reassembly
	stats   ReassemblyStats
}

// NewReassembler returns an empty Reassembler; now is its clock (time.Now in production).
func NewReassembler(limits ReassemblyLimits, now func() time.Time) *Reassembler {
	if now == nil {
		now = time.Now
	}
	return &Reassembler{limits: limits.withDefaults(), now: now, pending: make(map[reassemblyKey]*reassembly)}
}

// Stats returns a copy of the counters.
func (r *Reassembler) Stats() ReassemblyStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Pending returns the number of messages being reassembled.
func (r *Reassembler) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Expire drops reassemblies older than the timeout (Add does it too; an engine timer may call
// it to free memory when no more fragments arrive).
func (r *Reassembler) Expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(r.now())
}

func (r *Reassembler) expire(now time.Time) {
	for k, re := range r.pending {
		if now.Sub(re.started) >= r.limits.Timeout {
			delete(r.pending, k)
			r.stats.Expired++
		}
	}
}

// Reset drops everything in progress (the IKE SA died or was rekeyed).
func (r *Reassembler) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.pending)
}

func refused(counter *uint64, format string, args ...any) error {
	*counter++
	return errNoOff(PayloadSKF, ErrFragmentRefused, format, args...)
}

// Add stores one verified fragment. It returns the reassembled message when f completed one:
// Header is the first fragment's header (Length is that fragment's), Payloads the payloads in
// the clear of the first fragment, Inner the decoded inner payloads, Raw nil (there is no
// single datagram). It returns nil, nil while fragments are missing and for a duplicate, and an
// error wrapping ErrFragmentRefused for a fragment it will not keep (with ErrTooLarge when the
// size limit was hit), or the decode error of a completed message's inner payloads.
func (r *Reassembler) Add(f *Fragment) (*Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.expire(now)
	if f == nil || f.Number == 0 || f.Number > f.Total {
		return nil, refused(&r.stats.RefusedInvalid, "not a fragment")
	}
	if int(f.Total) > r.limits.MaxFragments {
		return nil, refused(&r.stats.RefusedTooManyFragments, "Total Fragments %d above the limit of %d", f.Total, r.limits.MaxFragments)
	}
	key := reassemblyKey{f.Header.MessageID, f.Header.IsResponse()}
	re := r.pending[key]
	switch {
	case re == nil:
	case f.Header.Exchange != re.hdr.Exchange || f.Header.Flags != re.hdr.Flags ||
		f.Header.SPIi != re.hdr.SPIi || f.Header.SPIr != re.hdr.SPIr:
		return nil, refused(&r.stats.RefusedMismatch, "fragment %d of message %d: %s/%s differs from %s/%s",
			f.Number, f.Header.MessageID, f.Header.Exchange, f.Header.Flags, re.hdr.Exchange, re.hdr.Flags)
	case f.Total < re.total:
		return nil, refused(&r.stats.RefusedStale, "fragment %d/%d of message %d while %d fragments are expected",
			f.Number, f.Total, f.Header.MessageID, re.total)
	case f.Total > re.total:
		delete(r.pending, key)
		r.stats.Restarted++
		re = nil
	}
	if re == nil {
		if len(r.pending) >= r.limits.MaxPending {
			return nil, refused(&r.stats.RefusedTooManyPending, "%d messages already in reassembly", len(r.pending))
		}
		re = &reassembly{hdr: f.Header, total: f.Total, parts: make([][]byte, f.Total), started: now}
		r.pending[key] = re
	}
	i := int(f.Number) - 1
	if re.parts[i] != nil {
		r.stats.Duplicates++
		return nil, nil
	}
	if re.bytes+len(f.Content) > r.limits.MaxBytes {
		delete(r.pending, key)
		err := refused(&r.stats.RefusedTooLarge, "message %d grows beyond %d bytes", f.Header.MessageID, r.limits.MaxBytes)
		err.(*Error).errs = append(err.(*Error).errs, ErrTooLarge)
		return nil, err
	}
	re.parts[i] = append(make([]byte, 0, len(f.Content)), f.Content...)
	re.got++
	re.bytes += len(f.Content)
	if f.Number == 1 {
		re.first, re.outer, re.hdr = f.NextPayload, f.Outer, f.Header
	}
	r.stats.Stored++
	if re.got < int(re.total) {
		return nil, nil
	}
	delete(r.pending, key)
	content := make([]byte, 0, re.bytes)
	for _, p := range re.parts {
		content = append(content, p...)
	}
	inner, err := decodeChain(re.first, content, 0, true)
	if err != nil {
		r.stats.Malformed++
		return nil, err
	}
	r.stats.Completed++
	return &Message{Header: re.hdr, Chain: Chain{Payloads: re.outer}, Inner: inner}, nil
}

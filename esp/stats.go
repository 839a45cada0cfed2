package esp

import (
	"errors"
	"sync/atomic"
)

// ErrClass indexes the error counters.
type ErrClass int

const (
	ClassMalformed ErrClass = iota
	ClassIntegrity
	ClassReplay
	ClassPadding
	ClassNextHeader
	ClassDummy
	ClassPolicy
	ClassExpired
	ClassSeqOverflow
	ClassNoRoom
	ClassFragment
	ClassUnknownSPI
	ClassOther
	numClasses
)

var classNames = [numClasses]string{
	"malformed", "integrity", "replay", "padding", "next_header", "dummy", "policy",
	"expired", "seq_overflow", "no_room", "fragment", "unknown_spi", "other",
}

func (c ErrClass) String() string { return classNames[c] }

// Classify maps a data-plane error to its counter.
func Classify(err error) ErrClass {
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrWrongSA):
		return ClassMalformed
	case errors.Is(err, ErrIntegrity):
		return ClassIntegrity
	case errors.Is(err, ErrReplay):
		return ClassReplay
	case errors.Is(err, ErrPadding):
		return ClassPadding
	case errors.Is(err, ErrNextHeader):
		return ClassNextHeader
	case errors.Is(err, ErrDummy):
		return ClassDummy
	case errors.Is(err, ErrPolicy):
		return ClassPolicy
	case errors.Is(err, ErrExpired):
		return ClassExpired
	case errors.Is(err, ErrSeqOverflow):
		return ClassSeqOverflow
	case errors.Is(err, ErrNoRoom):
		return ClassNoRoom
	case errors.Is(err, ErrFragment):
		return ClassFragment
	case errors.Is(err, ErrUnknownSPI):
		return ClassUnknownSPI
	}
	return ClassOther
}

// Stats are an SA's (or the whole data plane's) counters. Safe for concurrent use.
type Stats struct {
	Packets atomic.Uint64 // packets protected (outbound) or accepted (inbound)
	Bytes   atomic.Uint64 // inner bytes of those packets
	Errors  [numClasses]atomic.Uint64
}

// Count adds one to the counter of err's class.
func (s *Stats) Count(err error) { s.Errors[Classify(err)].Add(1) }

// Snapshot is a point-in-time copy of Stats, for status output.
type Snapshot struct {
	Packets uint64            `json:"packets"`
	Bytes   uint64            `json:"bytes"`
	Errors  map[string]uint64 `json:"errors,omitempty"`
}

// Snapshot copies the counters; only non-zero error classes are listed.
func (s *Stats) Snapshot() Snapshot {
	snap := Snapshot{Packets: s.Packets.Load(), Bytes: s.Bytes.Load()}
	for c := range numClasses {
		if v := s.Errors[c].Load(); v != 0 {
			if snap.Errors == nil {
				snap.Errors = map[string]uint64{}
			}
			snap.Errors[c.String()] = v
		}
	}
	return snap
}

// ErrorTotal sums every error counter.
func (s *Stats) ErrorTotal() uint64 {
	var t uint64
	for c := range numClasses {
		t += s.Errors[c].Load()
	}
	return t
}

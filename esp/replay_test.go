package esp

import (
	"errors"
	"testing"
)

func TestWindowTable(t *testing.T) {
	type step struct {
		seq uint64
		ok  bool
	}
	cases := []struct {
		name  string
		size  int
		steps []step
	}{
		{"in order", 64, []step{{1, true}, {2, true}, {3, true}}},
		{"zero never valid", 64, []step{{0, false}, {1, true}, {0, false}}},
		{"duplicate", 64, []step{{1, true}, {1, false}, {2, true}, {1, false}, {2, false}}},
		{"reorder within window", 64, []step{{10, true}, {5, true}, {7, true}, {5, false}, {9, true}}},
		{"left edge", 64, []step{{100, true}, {37, true}, {36, false}, {37, false}}},
		{"slide across words", 128, []step{{1, true}, {64, true}, {65, true}, {200, true}, {72, false}, {73, true}, {73, false}, {199, true}}},
		{"big jump clears bitmap", 64, []step{{5, true}, {100000, true}, {5, false}, {99999, true}, {99937, true}, {99936, false}}},
		{"jump of exactly the ring", 64, []step{{1, true}, {129, true}, {128, true}, {66, true}, {65, false}}},
		{"rounded to 64", 100, []step{{1000, true}, {873, true}, {872, false}}},
		{"disabled accepts replays", 0, []step{{5, true}, {5, true}, {1, true}, {0, false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := NewWindow(c.size)
			for i, s := range c.steps {
				err := w.Check(s.seq)
				if err == nil {
					err = w.Update(s.seq)
				}
				if (err == nil) != s.ok {
					t.Fatalf("step %d seq %d: err %v, want ok=%v", i, s.seq, err, s.ok)
				}
				if err != nil && !errors.Is(err, ErrReplay) {
					t.Fatalf("step %d: %v is not ErrReplay", i, err)
				}
			}
		})
	}
}

// TestWindowExhaustive compares the bitmap against a trivially correct model over a random
// walk of sequence numbers.
func TestWindowExhaustive(t *testing.T) {
	for _, size := range []int{64, 128, 1024} {
		w := NewWindow(size)
		seen := map[uint64]bool{}
		var top uint64
		x := uint64(12345)
		for range 20000 {
			x = x*6364136223846793005 + 1442695040888963407
			seq := top + uint64(x>>50)%uint64(size/2+8) - uint64(size/2)
			if top < uint64(size) && x>>63 == 1 {
				seq = top + 1
			}
			if seq > 1<<62 {
				seq = 1
			}
			want := seq != 0 && !seen[seq] && (seq > top || top-seq < uint64(size))
			err := w.Check(seq)
			if (err == nil) != want {
				t.Fatalf("size %d seq %d top %d: check %v, want ok=%v", size, seq, top, err, want)
			}
			if err == nil {
				if err := w.Update(seq); err != nil {
					t.Fatalf("update after check failed: %v", err)
				}
				seen[seq] = true
				top = max(top, seq)
			}
		}
	}
}

// TestInferESN covers RFC 4303 Appendix A2.2, both cases, around the 2^32 boundary.
func TestInferESN(t *testing.T) {
	const W = 64
	cases := []struct {
		top  uint64
		seql uint32
		want uint64
	}{
		{0, 1, 1},                                 // fresh window
		{100, 99, 99},                             // case A, inside window
		{100, 101, 101},                           // case A, ahead
		{100, 10, 1<<32 + 10},                     // case A: left of the window: guessed next subspace, the ICV decides
		{1<<32 - 10, 5, 1<<32 + 5},                // case A: low bits wrapped -> next subspace
		{1<<32 - 10, 1<<32 - 20, 1<<32 - 20},      // case A: behind top, same subspace
		{1<<32 + 5, 1<<32 - 3, 1<<32 - 3},         // case B: seql in the upper part of the previous subspace
		{1<<32 + 5, 3, 1<<32 + 3},                 // case B: current subspace
		{1<<32 + 5, 100, 1<<32 + 100},             // case B: ahead
		{5<<32 + 1, 1<<32 - 1, 4<<32 + 1<<32 - 1}, // case B, higher subspace
	}
	for _, c := range cases {
		w := NewWindow(W)
		w.top = c.top
		if got := w.InferESN(c.seql); got != c.want {
			t.Errorf("top %#x seql %#x: got %#x, want %#x", c.top, c.seql, got, c.want)
		}
	}
}

// TestESNWrap drives a window across the 32-bit boundary using only the low bits, the way
// packets arrive.
func TestESNWrap(t *testing.T) {
	w := NewWindow(1024)
	w.top = 1<<32 - 500
	for seq := uint64(1<<32 - 499); seq < 1<<32+2000; seq += 3 {
		got := w.InferESN(uint32(seq))
		if got != seq {
			t.Fatalf("inferred %#x for %#x", got, seq)
		}
		if err := w.Update(got); err != nil {
			t.Fatalf("update %#x: %v", got, err)
		}
		// a late packet from before the wrap still maps to the previous subspace
		if seq > 1<<32+500 && seq < 1<<32+600 {
			old := seq - 700
			if g := w.InferESN(uint32(old)); g != old {
				t.Fatalf("late packet %#x inferred as %#x", old, g)
			}
		}
	}
}

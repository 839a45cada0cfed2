package core

// Timers of the sans-I/O core: every retransmission, expiry, rekey, DPD and keepalive
// deadline is a *Timer in one min-heap. The state machines arm and stop them with an
// explicit time; Run sleeps until the earliest deadline, and tests advance a virtual clock
// to it. Only the Run goroutine (or a test driving the core) touches them.

import (
	"container/heap"
	"time"
)

// Timer is one deadline with the function to run when it passes.
type Timer struct {
	at    time.Time
	fn    func(now time.Time)
	index int // position in the heap; -1 when not armed
	name  string
}

// NewTimer returns a disarmed timer that runs fn when it fires.
func NewTimer(name string, fn func(now time.Time)) *Timer {
	return &Timer{fn: fn, index: -1, name: name}
}

// Armed reports whether t is set to fire.
func (t *Timer) Armed() bool { return t != nil && t.index >= 0 }

type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// Timers is the core's Timer set.
type Timers struct{ h timerHeap }

// arm sets t to fire at at (re-arming it if it was armed).
func (ts *Timers) Arm(t *Timer, at time.Time) {
	t.at = at
	if t.index >= 0 {
		heap.Fix(&ts.h, t.index)
		return
	}
	heap.Push(&ts.h, t)
}

// stop disarms t; stopping a nil or disarmed Timer does nothing.
func (ts *Timers) Stop(t *Timer) {
	if t == nil || t.index < 0 {
		return
	}
	heap.Remove(&ts.h, t.index)
}

// next returns the earliest deadline, if any.
func (ts *Timers) Next() (time.Time, bool) {
	if len(ts.h) == 0 {
		return time.Time{}, false
	}
	return ts.h[0].at, true
}

// fire runs every Timer due at now (including Timers armed by the ones that run, if they
// are due too), in deadline order. It returns how many ran.
func (ts *Timers) Fire(now time.Time) int {
	n := 0
	for len(ts.h) > 0 && !ts.h[0].at.After(now) {
		t := heap.Pop(&ts.h).(*Timer)
		n++
		t.fn(now)
	}
	return n
}

// Len is the number of armed timers.
func (ts *Timers) Len() int { return len(ts.h) }

package ike

// Timers of the sans-I/O core: every retransmission, expiry, rekey, DPD and keepalive
// deadline is a *timer in one min-heap. The state machines arm and stop them with an
// explicit time; Run sleeps until the earliest deadline, and tests advance a virtual clock
// to it. Only the Run goroutine (or a test driving the core) touches them.

import (
	"container/heap"
	"time"
)

// timer is one deadline with the function to run when it passes.
type timer struct {
	at    time.Time
	fn    func(now time.Time)
	index int // position in the heap; -1 when not armed
	name  string
}

func newTimer(name string, fn func(now time.Time)) *timer {
	return &timer{fn: fn, index: -1, name: name}
}

func (t *timer) armed() bool { return t != nil && t.index >= 0 }

type timerHeap []*timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
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

// timers is the core's timer set.
type timers struct{ h timerHeap }

// arm sets t to fire at at (re-arming it if it was armed).
func (ts *timers) arm(t *timer, at time.Time) {
	t.at = at
	if t.index >= 0 {
		heap.Fix(&ts.h, t.index)
		return
	}
	heap.Push(&ts.h, t)
}

// stop disarms t; stopping a nil or disarmed timer does nothing.
func (ts *timers) stop(t *timer) {
	if t == nil || t.index < 0 {
		return
	}
	heap.Remove(&ts.h, t.index)
}

// next returns the earliest deadline, if any.
func (ts *timers) next() (time.Time, bool) {
	if len(ts.h) == 0 {
		return time.Time{}, false
	}
	return ts.h[0].at, true
}

// fire runs every timer due at now (including timers armed by the ones that run, if they
// are due too), in deadline order. It returns how many ran.
func (ts *timers) fire(now time.Time) int {
	n := 0
	for len(ts.h) > 0 && !ts.h[0].at.After(now) {
		t := heap.Pop(&ts.h).(*timer)
		n++
		t.fn(now)
	}
	return n
}

func (ts *timers) len() int { return len(ts.h) }

package core

import (
	"testing"
	"time"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTimers(t *testing.T) {
	var ts Timers
	var order []string
	mk := func(name string) *Timer { return NewTimer(name, func(time.Time) { order = append(order, name) }) }
	a, b, c := mk("a"), mk("b"), mk("c")
	ts.Arm(a, epoch.Add(3*time.Second))
	ts.Arm(b, epoch.Add(1*time.Second))
	ts.Arm(c, epoch.Add(2*time.Second))
	ts.Arm(a, epoch.Add(500*time.Millisecond)) // re-arm earlier
	ts.Stop(c)
	ts.Stop(c)
	if next, _ := ts.Next(); !next.Equal(epoch.Add(500 * time.Millisecond)) {
		t.Fatalf("next %v", next)
	}
	if n := ts.Fire(epoch.Add(5 * time.Second)); n != 2 || len(order) != 2 || order[0] != "a" || order[1] != "b" {
		t.Fatalf("fired %d: %v", n, order)
	}
	if a.Armed() || ts.Len() != 0 {
		t.Fatal("timers left armed")
	}
}

func TestReplyCache(t *testing.T) {
	var rc ReplyCache
	for i := 0; i < 3*ReplyCacheSize; i++ {
		rc.Remember([32]byte{byte(i)}, []byte{byte(i)})
	}
	if _, ok := rc.Lookup([32]byte{0}); ok {
		t.Fatal("unbounded reply cache")
	}
	if r, ok := rc.Lookup([32]byte{byte(3*ReplyCacheSize - 1)}); !ok || r[0] != byte(3*ReplyCacheSize-1) {
		t.Fatal("latest entry lost")
	}
	if len(rc.replies) != ReplyCacheSize || len(rc.keys) != ReplyCacheSize {
		t.Fatalf("%d entries", len(rc.replies))
	}
}

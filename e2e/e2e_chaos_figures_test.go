//go:build linux

package e2e

// Figures of the chaos suite, the soak and the load test (issue 13): their size knobs (the
// bounded form `make test` runs, the full form of `make chaos`, `make soak`, `make
// loadtest`), and one parseable line per measurement in the test log:
//
//	FIGURE <table> key=value key=value ...
//
// (values never contain spaces), also appended to $E2E_RESULTS when set.
// `grep -h 'FIGURE' e2e.log | sed 's/.*FIGURE //'` extracts them.

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envInt reads a positive integer knob, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// envDuration reads a duration knob ("30m"), or def.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration like 30m", name, v)
	}
	return d
}

// kv is one field of a FIGURE line.
type kv struct {
	k string
	v any
}

// figure logs one FIGURE line and appends it to $E2E_RESULTS.
func figure(t *testing.T, table string, fields ...kv) {
	t.Helper()
	var b strings.Builder
	b.WriteString("FIGURE " + table)
	for _, f := range fields {
		var s string
		switch v := f.v.(type) {
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
			if math.Abs(v) >= 0.01 || v == 0 {
				s = strconv.FormatFloat(v, 'f', 2, 64)
			} else {
				s = strconv.FormatFloat(v, 'g', 3, 64)
			}
		case time.Duration:
			s = strconv.FormatFloat(v.Seconds(), 'f', 2, 64) + "s"
		default:
			s = fmt.Sprint(v)
		}
		fmt.Fprintf(&b, " %s=%s", f.k, strings.ReplaceAll(s, " ", "_"))
	}
	recordResult(t, "%s", b.String())
}

// secs are durations as seconds, for statistics.
func secs(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// median of v (0 for none).
func median(v []float64) float64 { return quantile(v, 0.5) }

// quantile returns the q-quantile of v by linear interpolation (0 for none).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// slope fits y = a + b·x by least squares and returns b (0 with fewer than two points or no
// spread in x).
func slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return 0
	}
	var sx, sy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// stableFor polls cond every 250 ms until it has held continuously for hold, or total
// passed; it reports whether it did.
func stableFor(total, hold time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(total)
	var since time.Time
	for {
		if cond() {
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) >= hold {
				return true
			}
		} else {
			since = time.Time{}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestFigureHelpers checks the statistics the figures rest on.
func TestFigureHelpers(t *testing.T) {
	if m := median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of four = %v", m)
	}
	if q := quantile([]float64{1, 2, 3, 4, 5}, 0.9); math.Abs(q-4.6) > 1e-9 {
		t.Errorf("p90 = %v", q)
	}
	x := []float64{0, 1, 2, 3, 4}
	if b := slope(x, []float64{1, 3, 5, 7, 9}); math.Abs(b-2) > 1e-9 {
		t.Errorf("slope = %v, want 2", b)
	}
	if b := slope(x, []float64{7, 7, 7, 7, 7}); b != 0 {
		t.Errorf("flat slope = %v", b)
	}
	if b := slope([]float64{1, 1}, []float64{1, 2}); b != 0 {
		t.Errorf("no spread: %v", b)
	}
}

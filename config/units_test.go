package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0}, {"30s", 30 * time.Second}, {"1h", time.Hour}, {"24h", 24 * time.Hour},
		{"1h30m", 90 * time.Minute}, {"7d", 7 * 24 * time.Hour}, {" 150s ", 150 * time.Second},
		{"500ms", 500 * time.Millisecond},
	} {
		got, err := parseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "30", "-1s", "1 hour", "d", "1.5d", "999999999d", "s"} {
		if d, err := parseDuration(in); err == nil {
			t.Errorf("%q = %v, want an error", in, d)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1500", 1500}, {"100MB", 100_000_000}, {"4KiB", 4096}, {"1GB", 1_000_000_000},
		{"1 GiB", 1 << 30}, {"4MB", 4_000_000}, {"4mib", 4 << 20}, {"2kB", 2000}, {"2KB", 2000},
		{"7B", 7}, {"1TiB", 1 << 40}, {"3tb", 3_000_000_000_000}, {"9223372036854775807", 1<<63 - 1},
	} {
		got, err := parseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, frag string }{
		{"", "not a byte size"}, {"MB", "not a byte size"}, {"-1", "not a byte size"},
		{"4M", `unknown unit "M"`}, {"4 K", `unknown unit "K"`}, {"1.5GB", "not a whole number"},
		{"9223372036854775808", "too large"}, {"9000000000TiB", "too large"}, {"10 bytes", "unknown unit"},
	} {
		_, err := parseByteSize(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.frag) {
			t.Errorf("%q: %v, want ...%s...", tc.in, err, tc.frag)
		}
	}
}

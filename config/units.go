package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseDuration reads a CONFIG.md duration: a string such as "30s", "1h30m", "24h" (Go's
// time.ParseDuration units ns, us, ms, s, m, h), a whole number of days "7d", or "0".
// Negative durations are refused.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New(`empty; want a duration like "30s", "1h" or "0"`)
	}
	if strings.HasSuffix(t, "d") {
		n, err := strconv.ParseUint(t[:len(t)-1], 10, 32)
		if err != nil || n > 106751 { // time.Duration holds about 292 years
			return 0, fmt.Errorf("%q is not a duration; want a whole number of days like \"7d\"", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; want a number with a unit like \"30s\", \"10m\", \"1h\" or \"7d\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// Byte-size units. The SI prefixes are decimal and the IEC prefixes binary, exactly as their
// standards define them, so "100MB" is 100 000 000 bytes and "4KiB" is 4096 bytes. Units are
// matched case-insensitively ("mb" = "MB"); a bare "K", "M" or "G" is refused as ambiguous.
var byteUnits = map[string]int64{
	"b":  1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000, "tb": 1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseByteSize reads a byte size written as a string: a whole number, optionally followed
// (with or without a space) by a unit from byteUnits. The result is at least 0 and fits int64.
func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a byte size; want a whole number with an optional unit like \"100MB\" or \"4KiB\"", s)
	}
	if i < len(t) && (t[i] == '.' || t[i] == ',') {
		return 0, fmt.Errorf("%q is not a whole number of bytes; write \"1536MiB\" rather than \"1.5GiB\"", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	if unit == "" {
		return n, nil
	}
	mult, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q; want B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)", s, strings.TrimSpace(t[i:]))
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

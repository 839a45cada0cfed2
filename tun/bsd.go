package tun

// Pure helpers for the macOS device, kept free of build tags so they are tested everywhere.

import (
	"strconv"
	"strings"
)

// isUtunName reports whether macOS accepts name for a utun device: "utun" (the kernel
// picks the unit) or "utunN" with N a decimal number.
func isUtunName(name string) bool {
	if name == "utun" {
		return true
	}
	rest, ok := strings.CutPrefix(name, "utun")
	if !ok || rest == "" {
		return false
	}
	n, err := strconv.Atoi(rest)
	return err == nil && n >= 0 && strconv.Itoa(n) == rest
}

// parseRouteGetMTU finds the mtu column in the output of BSD `route -n get`, whose last two
// lines are a header ("recvpipe sendpipe ... mtu expire") and a row of values.
func parseRouteGetMTU(out string) (int, bool) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 0; i+1 < len(lines); i++ {
		col := -1
		for j, f := range strings.Fields(lines[i]) {
			if f == "mtu" {
				col = j
			}
		}
		if col < 0 {
			continue
		}
		vals := strings.Fields(lines[i+1])
		if col >= len(vals) {
			return 0, false
		}
		mtu, err := strconv.Atoi(vals[col])
		if err != nil || mtu <= 0 || mtu > 65535 {
			return 0, false
		}
		return mtu, true
	}
	return 0, false
}

package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestGODEBUGTLSUnsafeEKM: the binary enables crypto/tls's exporter without the extended
// master secret (main.go's //go:debug line), which EAP-TLS with TLS 1.2 against strongSwan
// needs for RFC 5216's MSK (e2e TestInteropEAPTLS* fail without it).
func TestGODEBUGTLSUnsafeEKM(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info")
	}
	for _, s := range bi.Settings {
		if s.Key == "DefaultGODEBUG" && strings.Contains(s.Value, "tlsunsafeekm=1") {
			return
		}
	}
	t.Fatalf("DefaultGODEBUG lacks tlsunsafeekm=1: %+v", bi.Settings)
}

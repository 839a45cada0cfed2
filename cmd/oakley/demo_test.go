package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestDemo runs `oakley demo` in-process: two unprivileged peers, IKE, an HTTP GET through ESP.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := cmdDemo(nil, &out); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"site B answered 200 OK", "ESTABLISHED", "INSTALLED", "demo OK"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "errors:") {
		t.Errorf("an SA refused packets:\n%s", s)
	}
}

// handedOut holds the ports mustUDPPorts gave earlier in this test binary: they were closed
// again for the daemons to bind, so the kernel may offer them to the next caller.
var handedOut = struct {
	sync.Mutex
	ports map[uint16]bool
}{ports: map[uint16]bool{}}

// mustUDPPorts returns n free UDP ports, distinct from each other and from every port it
// returned before in this test binary.
func mustUDPPorts(t *testing.T, n int) []uint16 {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	var out []uint16
	for tries := 0; len(out) < n; tries++ {
		if tries == 100 {
			t.Fatalf("no %d fresh UDP ports after 100 tries", n)
		}
		p, err := freeUDPPorts(n - len(out))
		if err != nil {
			t.Fatal(err)
		}
		for _, port := range p {
			if !handedOut.ports[port] {
				handedOut.ports[port] = true
				out = append(out, port)
			}
		}
	}
	return out
}

// TestFreeUDPPortsDistinct: the ports picked at once never repeat, although each was
// closed before the next pick could reuse it.
func TestFreeUDPPortsDistinct(t *testing.T) {
	for range 200 {
		p, err := freeUDPPorts(4)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint16]bool{}
		for _, port := range p {
			if seen[port] {
				t.Fatalf("port %d picked twice in %v", port, p)
			}
			seen[port] = true
		}
	}
}

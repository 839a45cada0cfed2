package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDemoPortsNarrowRange runs TestFreeUDPPortsDistinct and TestDemo again in a network
// namespace of its own whose ephemeral range has only the four ports the demo needs. There a
// port closed after its pick comes back from the next bind most of the time, the way it did
// once in CI with the whole range (site A's NAT-T port was site B's IKE port).
func TestDemoPortsNarrowRange(t *testing.T) {
	if os.Getenv("OAKLEY_NARROW_PORTS") != "" {
		t.Skip("already inside the narrow namespace")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root for a network namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("skipping: no unshare(1)")
	}
	script := `ip link set lo up && echo "40000 40003" > /proc/sys/net/ipv4/ip_local_port_range && exec "$0" -test.run '^(TestFreeUDPPortsDistinct|TestDemo)$' -test.v`
	cmd := exec.Command("unshare", "--net", "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), "OAKLEY_NARROW_PORTS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a namespace with four ephemeral ports: %v\n%s", err, out)
	}
	for _, want := range []string{"--- PASS: TestFreeUDPPortsDistinct", "--- PASS: TestDemo "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the run in the namespace lacks %q:\n%s", want, out)
		}
	}
}

//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oakleyBin is the binary under test: $OAKLEY_BIN, or one TestMain built into a temporary
// directory.
var oakleyBin string

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		// Re-executed inside a namespace as a small network tool (see e2e_helper_test.go).
		os.Exit(runHelper(mode))
	}
	code, err := setupBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	rc := m.Run()
	code.cleanup()
	cleanupTools()
	os.Exit(rc)
}

type binarySetup struct{ dir string }

func (b binarySetup) cleanup() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// setupBinary finds the oakley binary, building it once when OAKLEY_BIN is not set.
func setupBinary() (binarySetup, error) {
	if p := os.Getenv("OAKLEY_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return binarySetup{}, err
		}
		if fi, err := os.Stat(abs); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return binarySetup{}, fmt.Errorf("OAKLEY_BIN=%s is not an executable file", p)
		}
		oakleyBin = abs
		return binarySetup{}, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return binarySetup{}, fmt.Errorf("OAKLEY_BIN is not set and the go tool is not in PATH to build oakley")
	}
	dir, err := os.MkdirTemp("", "oke-bin-")
	if err != nil {
		return binarySetup{}, err
	}
	// World-readable, so that the unprivileged test can run a copy too.
	if err := os.Chmod(dir, 0o755); err != nil {
		return binarySetup{dir}, err
	}
	bin := filepath.Join(dir, "oakley")
	cmd := exec.Command(goTool, "build", "-o", bin, "oakley/cmd/oakley")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return binarySetup{dir}, fmt.Errorf("building oakley: %v\n%s", err, out)
	}
	oakleyBin = bin
	return binarySetup{dir}, nil
}

// needRoot skips the test unless it runs as root (namespaces, TUN devices, raw sockets).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (network namespaces and TUN devices); run `sudo make e2e`")
	}
}

// needTools skips the test when a program it runs is not installed.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("skipping: %s not installed (.ci/run installs iproute2, iputils-ping, iperf3, tshark, iptables)", strings.Join(missing, ", "))
	}
}

// needNetns is needRoot plus the tools every namespace test uses.
func needNetns(t *testing.T) {
	t.Helper()
	needRoot(t)
	needTools(t, "ip", "ping")
}

// recordResult logs a measurement and appends it to $E2E_RESULTS when that is set.
func recordResult(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	path := os.Getenv("E2E_RESULTS")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("E2E_RESULTS: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s: %s\n", time.Now().UTC().Format(time.RFC3339), t.Name(), line)
}

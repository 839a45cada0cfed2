package crypto

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestSHA256x2Generated: sha256x2_amd64.s is what sha256x2_gen.go prints, so an edit to one
// without the other is caught.
func TestSHA256x2Generated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator with go run")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run the generator")
	}
	out, err := exec.Command(gobin, "run", "sha256x2_gen.go").Output()
	if err != nil {
		t.Fatalf("go run sha256x2_gen.go: %v", err)
	}
	have, err := os.ReadFile("sha256x2_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, have) {
		t.Fatal("sha256x2_amd64.s differs from the generator's output: go run sha256x2_gen.go > sha256x2_amd64.s")
	}
}

package crypto

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestGCMVAESGenerated: gcmvaes_amd64.s is what gcmvaes_gen.go prints, so an edit to one
// without the other is caught.
func TestGCMVAESGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator with go run")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run the generator")
	}
	out, err := exec.Command(gobin, "run", "gcmvaes_gen.go").Output()
	if err != nil {
		t.Fatalf("go run gcmvaes_gen.go: %v", err)
	}
	have, err := os.ReadFile("gcmvaes_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, have) {
		t.Fatal("gcmvaes_amd64.s differs from the generator's output: go run gcmvaes_gen.go > gcmvaes_amd64.s")
	}
}

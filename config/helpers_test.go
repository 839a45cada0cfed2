package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// writeTree writes files (name → content) under a new temporary directory and returns it.
// Files under secrets/ and private/ get mode 0600, the rest 0644.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "secrets/") || strings.HasPrefix(name, "private/") {
			mode = 0o600
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is subject to umask
			t.Fatal(err)
		}
	}
	return dir
}

// testPSK is a 32-byte random PSK in base64 (no entropy warning).
const testPSK = "q3Vx9Zk1mD0b7yT2eLr8cWn4hPs6uJ5aGfQiXo1EtKY="

// asErrors requires err to be an Errors and returns it.
func asErrors(t *testing.T, err error) Errors {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want config.Errors: %v", err, err)
	}
	return es
}

// hasError reports whether es holds an error at line whose message contains frag.
func hasError(es Errors, line int, frag string) bool {
	for _, e := range es {
		if e.Line == line && strings.Contains(e.Msg, frag) {
			return true
		}
	}
	return false
}

func hasWarning(ws []Warning, line int, frag string) bool {
	for _, w := range ws {
		if w.Line == line && strings.Contains(w.Msg, frag) {
			return true
		}
	}
	return false
}

// needModes skips tests of file permission checks where the OS has no Unix modes.
func needModes(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes on Windows; the permission check is skipped there")
	}
}

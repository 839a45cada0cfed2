package main

import (
	"bytes"
	"strings"
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

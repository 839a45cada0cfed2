package config

import (
	"strings"
	"testing"
)

// TestVIPsLocalTSDefault: a tunnel-mode child of a vips client without local_ts proposes the
// whole of each family it asks an address for; an explicit local_ts is kept. Control: without
// vips, a missing local_ts is still an error.
func TestVIPsLocalTSDefault(t *testing.T) {
	noLocal := strings.Replace(minimal, "  local_ts = [\"192.0.2.0/24\"]\n", "", 1)
	cfg, err := Parse("s.toml", []byte(expand(strings.Replace(noLocal, "psk =", "vips = [\"0.0.0.0\", \"::\"]\npsk =", 1))), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ts := range cfg.Connections[0].Children[0].LocalTS {
		got = append(got, ts.Prefix.String())
	}
	if strings.Join(got, " ") != "0.0.0.0/0 ::/0" {
		t.Fatalf("local_ts defaults to %v", got)
	}
	cfg, err = Parse("s.toml", []byte(expand(strings.Replace(minimal, "psk =", "vips = [\"0.0.0.0\"]\npsk =", 1))), "")
	if err != nil || cfg.Connections[0].Children[0].LocalTS[0].Prefix.String() != "192.0.2.0/24" {
		t.Fatalf("explicit local_ts: %v %v", cfg, err)
	}
	if _, err := Parse("s.toml", []byte(expand(noLocal)), ""); err == nil || !strings.Contains(err.Error(), "needs local_ts") {
		t.Fatalf("without vips: %v", err)
	}
}

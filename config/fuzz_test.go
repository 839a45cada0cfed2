package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseTS: any input either fails or yields a selector whose String() parses back to it.
func FuzzParseTS(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24", "192.0.2.0/24[tcp/443]", "2001:db8::/32[udp/1000-2000]",
		"198.51.100.7[47]", "0.0.0.0/0[%any]", "192.0.2.0/24[tcp/%any]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := parseTS(s)
		if err != nil {
			return
		}
		if ts.Prefix != ts.Prefix.Masked() || ts.PortLo > ts.PortHi {
			t.Fatalf("%q gave %+v", s, ts)
		}
		back, err := parseTS(ts.String())
		if err != nil || back != ts {
			t.Fatalf("%q -> %q -> %+v, %v", s, ts.String(), back, err)
		}
	})
}

// FuzzParseByteSize: accepted sizes are ≥ 0 and equal the number times the unit.
func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "100MB", "4KiB", "1 GiB", "9223372036854775807", "1.5GB", "4M"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseByteSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("%q = %d", s, n)
		}
		t2 := strings.TrimSpace(s)
		i := strings.IndexFunc(t2, func(r rune) bool { return r < '0' || r > '9' })
		if i < 0 {
			i = len(t2)
		}
		num, _ := strconv.ParseInt(t2[:i], 10, 64)
		if unit := strings.ToLower(strings.TrimSpace(t2[i:])); unit == "" && n != num || unit != "" && n != num*byteUnits[unit] {
			t.Fatalf("%q = %d", s, n)
		}
	})
}

// FuzzParseDuration: no panic; accepted durations are not negative.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "30s", "1h30m", "7d", "-1s", "d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseDuration(s); err == nil && d < 0 {
			t.Fatalf("%q = %v", s, d)
		}
	})
}

// FuzzParseIdentity: no panic; accepted identities carry data of their type.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"%any", "192.0.2.1", "site.example", "a@b.example", "C=CH, O=x, CN=y", `CN="a\,b"+UID=c`,
		"@#0102abcd", "@#012", "@@ops", "keyid:#0a0b", "asn1dn:#300c310a300806035504030c0161", "ipv4:#c0000201", "email:x@y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseIdentity(s)
		if err == nil && id.Type != IDAny && len(id.Data) == 0 {
			t.Fatalf("%q = %+v", s, id)
		}
		if err == nil && (id.Type == IDIPv4 && len(id.Data) != 4 || id.Type == IDIPv6 && len(id.Data) != 16) {
			t.Fatalf("%q = %+v", s, id)
		}
	})
}

// FuzzParse: whole configurations never panic, with the real notImplemented table and with
// nothing refused; every problem has a line inside the file and a message; the position index
// covers every key the TOML parser saw; the loader never reads a key the schema lacks.
func FuzzParse(f *testing.F) {
	f.Add([]byte(expand(minimal)))
	f.Add([]byte(manualGCM))
	for _, src := range featureExamples {
		f.Add([]byte(expand(src)))
	}
	f.Add([]byte(expand(rwPool + alice + conn("xauth = \"server\"\npools = [\"rw\"]"))))
	f.Add([]byte("[daemon]\nretransmit_timeout = \"1s\"\nretransmit_base = 1.5\nretransmit_tries = 7\nuser = \"root\"\n"))
	if b, err := os.ReadFile("testdata/full.toml"); err == nil {
		f.Add(b)
	}
	examples, _ := filepath.Glob("../examples/*.toml")
	for _, e := range examples {
		if b, err := os.ReadFile(e); err == nil {
			f.Add(b)
		}
	}
	// One empty directory per fuzzing process: the loader only reads files (a key or
	// password file the input names), so nothing an input does reaches the next one; a
	// directory per input was a third of each execution (mkdir and remove).
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := strings.Count(string(data), "\n") + 1
		for _, refused := range []map[feature]bool{notImplemented, nil} {
			cfg, _, err := parse("f.toml", data, dir, refused)
			if err != nil {
				for _, e := range asErrors(t, err) {
					if e.Line < 0 || e.Line > lines || e.Msg == "" || e.File != "f.toml" || strings.HasPrefix(e.Msg, "internal error") {
						t.Fatalf("bad error %+v (file has %d lines)", e, lines)
					}
				}
				continue
			}
			for _, w := range cfg.Warnings {
				if w.Line < 0 || w.Line > lines || w.Msg == "" {
					t.Fatalf("bad warning %+v", w)
				}
			}
			cfg.Wipe()
		}
		checkKeysIndexed(t, string(data))
	})
}

// FuzzScanPositions: the scanner terminates without panicking on any text, valid TOML or not.
func FuzzScanPositions(f *testing.F) {
	f.Add(tricky)
	f.Add("a = [\n{b = '''x''', c = \"\"\"y\"\"\"}]\n[[t]]\n[t.u]\n")
	f.Fuzz(func(t *testing.T, s string) {
		pos := scanPositions(s)
		for p, l := range pos.lines {
			if l < 1 || l > strings.Count(s, "\n")+1 {
				t.Fatalf("%q at line %d", p, l)
			}
		}
		checkKeysIndexed(t, s)
	})
}

package swanimport

import (
	"strings"
	"testing"
)

func TestParseSwanctlSyntax(t *testing.T) {
	text := `# comment
connections {   # trailing comment
  a {
    version = 1
    proposals = aes256-sha256-modp2048,   aes128-sha256-ecp256
    remote_addrs = 198.18.0.2 # comment after a value
    empty =
    quoted = "two  spaces # not a comment"
    multi = "line one
line two"
    escapes = "tab\there \"q\" back\\slash nl\n joined\
line"
    words = a   b "c  d"
    children
    {
      net { local_ts = 192.0.2.0/24 }
    }
  }
}
connections {
  a {
    version = 2
  }
  b {
  }
}
`
	root, warnings, err := ParseSwanctl("s.conf", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	conns := root.Sub("connections")
	if conns == nil || len(conns.Subs) != 2 {
		t.Fatalf("connections: %+v", conns)
	}
	a := conns.Sub("a")
	want := map[string]struct {
		val  string
		line int
	}{
		"version":      {"2", 22},
		"proposals":    {"aes256-sha256-modp2048, aes128-sha256-ecp256", 5},
		"remote_addrs": {"198.18.0.2", 6},
		"empty":        {"", 7},
		"quoted":       {"two  spaces # not a comment", 8},
		"multi":        {"line one\nline two", 9},
		"escapes":      {"tab\there \"q\" back\\slash nl\n joinedline", 11},
		"words":        {"a b c  d", 13},
	}
	for k, w := range want {
		kv := a.Key(k)
		if kv == nil {
			t.Errorf("no key %s", k)
			continue
		}
		if kv.Value != w.val || kv.Pos.Line != w.line {
			t.Errorf("%s = %q at line %d, want %q at line %d", k, kv.Value, kv.Pos.Line, w.val, w.line)
		}
	}
	net := a.Sub("children").Sub("net")
	if kv := net.Key("local_ts"); kv == nil || kv.Value != "192.0.2.0/24" || kv.Pos.Line != 16 {
		t.Errorf("children.net.local_ts: %+v", kv)
	}
	if len(warnings) != 1 || warnings[0].Pos.Line != 4 || !strings.Contains(warnings[0].Msg, "set again at s.conf:22") {
		t.Errorf("override warning: %v", warnings)
	}
	if a.Path() != "connections.a" || a.Pos.Line != 3 {
		t.Errorf("a: path %q line %d", a.Path(), a.Pos.Line)
	}
}

func TestParseSwanctlErrors(t *testing.T) {
	for _, c := range []struct {
		text string
		line int
		msg  string
	}{
		{"a {\n b = 1\n", 1, `section "a" is not closed`},
		{"a = 1\n}\n", 2, "unexpected '}'"},
		{"= 1\n", 1, "a section name or key must come first"},
		{"a\n\nb = 1\n", 1, `expected '=' or '{' after "a"`},
		{"a b = 1\n", 1, `unexpected "b" after "a"`},
		{`a = "open` + "\n", 1, "unterminated string"},
		{`"a" = 1`, 1, "only values may be quoted"},
		{"x {\n a = \"x\\", 2, "unterminated string"},
		{"a :  {\n}\n", 1, "expected the name of a section"},
		{"include\n", 1, `expected '=' or '{' after "include"`},
	} {
		_, _, err := ParseSwanctl("e.conf", []byte(c.text), nil)
		if err == nil {
			t.Errorf("%q: no error", c.text)
			continue
		}
		errs := errorsOf(t, err)
		if errs[0].Pos.Line != c.line || !strings.Contains(errs[0].Msg, c.msg) {
			t.Errorf("%q: %v, want line %d %q", c.text, errs[0], c.line, c.msg)
		}
		if !strings.Contains(errs[0].String(), "e.conf:") || !strings.Contains(errs[0].String(), ": error: ") {
			t.Errorf("%q: %q is not FILE:LINE: error: ...", c.text, errs[0])
		}
	}
}

func TestParseSwanctlIncludes(t *testing.T) {
	fsys := mapFS{
		"etc/swanctl.conf":   "connections {\n  include conf.d/*.conf\n}\ninclude secrets.conf\n",
		"etc/conf.d/a.conf":  "a {\n  version = 1\n}\n",
		"etc/conf.d/b.conf":  "b {\n  version = 2\n  include ../deep/x.conf\n}\n",
		"etc/deep/x.conf":    "remote_addrs = 198.18.0.9\n",
		"etc/secrets.conf":   "secrets {\n  ike-1 {\n    secret = x\n  }\n}\n",
		"loop/swanctl.conf":  "include swanctl.conf\n",
		"none/swanctl.conf":  "include nothing/*.conf\n",
		"miss/swanctl.conf":  "include missing.conf\n",
		"unbal/swanctl.conf": "a {\ninclude x.conf\n",
		"unbal/x.conf":       "}\n}\n",
	}
	root, _, err := ParseSwanctl("etc/swanctl.conf", []byte(fsys["etc/swanctl.conf"]), fsys)
	if err != nil {
		t.Fatal(err)
	}
	b := root.Sub("connections").Sub("b")
	if kv := b.Key("remote_addrs"); kv == nil || kv.Pos != (Pos{File: "etc/deep/x.conf", Line: 1}) {
		t.Errorf("nested include: %+v", kv)
	}
	if kv := root.Sub("connections").Sub("a").Key("version"); kv == nil || kv.Pos.File != "etc/conf.d/a.conf" {
		t.Errorf("glob include: %+v", kv)
	}
	if root.Sub("secrets").Sub("ike-1") == nil {
		t.Error("top-level include missing")
	}
	for _, c := range []struct {
		file, msg string
		fatal     bool
	}{
		{"loop/swanctl.conf", "nested deeper than 10", true},
		{"none/swanctl.conf", "matches no file", false},
		{"miss/swanctl.conf", "no such file", true},
		{"unbal/swanctl.conf", "unexpected '}'", true},
	} {
		_, warnings, err := ParseSwanctl(c.file, []byte(fsys[c.file]), fsys)
		got := ""
		if err != nil {
			got = err.Error()
		}
		for _, w := range warnings {
			got += w.String()
		}
		if (err != nil) != c.fatal || !strings.Contains(got, c.msg) {
			t.Errorf("%s: error %v warnings %v; want fatal=%v %q", c.file, err, warnings, c.fatal, c.msg)
		}
	}
	// Without a file system, includes are reported and not followed.
	_, warnings, err := ParseSwanctl("etc/swanctl.conf", []byte(fsys["etc/swanctl.conf"]), nil)
	if err != nil || len(warnings) != 2 || !strings.Contains(warnings[0].Msg, "not followed") {
		t.Errorf("nil FS: %v %v", err, warnings)
	}
}

func TestParseSwanctlReferences(t *testing.T) {
	text := `conn-defaults {
  version = 1
  proposals = aes128-sha256-modp2048
  children {
    net {
      esp_proposals = aes128gcm16
      mode = transport
    }
  }
}
connections {
  a : conn-defaults {
    version = 2
    children {
      net {
        mode = tunnel
      }
    }
  }
  b : connections.a, missing {
  }
}
`
	root, warnings, err := ParseSwanctl("r.conf", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := root.Sub("connections").Sub("a")
	if kv := a.Key("version"); kv.Value != "2" {
		t.Errorf("own value lost: %+v", kv)
	}
	if kv := a.Key("proposals"); kv == nil || kv.Pos.Line != 3 {
		t.Errorf("inherited key: %+v", kv)
	}
	net := a.Sub("children").Sub("net")
	if net.Key("mode").Value != "tunnel" || net.Key("esp_proposals") == nil {
		t.Errorf("inherited sub-section: mode %q esp %v", net.Key("mode").Value, net.Key("esp_proposals"))
	}
	b := root.Sub("connections").Sub("b")
	if kv := b.Key("version"); kv == nil || kv.Value != "2" {
		t.Errorf("reference chain: %+v", kv)
	}
	if !root.Sub("conn-defaults").template {
		t.Error("a referenced section is a template")
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Msg, "references missing") {
		t.Errorf("warnings: %v", warnings)
	}
	_, _, err = ParseSwanctl("r.conf", []byte("a {\n b : a {\n }\n}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "contains it") {
		t.Errorf("self reference: %v", err)
	}
}

// TestParseSwanctlPrefixes: every prefix of a valid file parses or fails with a positioned
// error; nothing panics, and no error points past the prefix.
func TestParseSwanctlPrefixes(t *testing.T) {
	data := []byte(`connections {
  a : b {
    x = "quoted
value"
    include foo.conf
  }
}
b { y = 1 }
`)
	for i := 0; i <= len(data); i++ {
		_, _, err := ParseSwanctl("p.conf", data[:i], nil)
		if err == nil {
			continue
		}
		lines := strings.Count(string(data[:i]), "\n") + 1
		for _, e := range errorsOf(t, err) {
			if e.Pos.Line < 1 || e.Pos.Line > lines {
				t.Errorf("prefix %d: error at line %d of %d: %v", i, e.Pos.Line, lines, e)
			}
		}
	}
}

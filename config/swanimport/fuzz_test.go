package swanimport

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// fuzzFS is what the fuzzed inputs may include.
var fuzzFS = mapFS{
	"inc.conf":       "a {\n  version = 1\n}\n",
	"ipsec.secrets":  "a b : PSK \"fuzz\"\n: RSA k.pem\n",
	"x/ipsec.d.conf": "conn z\n\tauto=add\n\tright=198.18.0.9\n",
}

// checkErrorLines asserts that every error points at a line of the input (or an included
// file, or the whole file).
func checkErrorLines(t *testing.T, err error, data []byte) {
	lines := bytes.Count(data, []byte("\n")) + 1
	for _, e := range errorsOf(t, err) {
		if e.Pos.File == "f.conf" && (e.Pos.Line < 0 || e.Pos.Line > lines) {
			t.Fatalf("error at line %d of a %d-line input: %v", e.Pos.Line, lines, e)
		}
		if e.Severity != Error {
			t.Fatalf("an error with severity %d: %v", e.Severity, e)
		}
	}
}

// checkConversion converts data and asserts that the output, when there is one, is valid
// TOML and that converting again gives the same bytes.
func checkConversion(t *testing.T, name, format string, data []byte) {
	opts := Options{Format: format, FS: fuzzFS, LocalAddrs: func() []netip.Addr { return nil }}
	res, err := ImportData(name, data, opts)
	if err != nil {
		return
	}
	var doc map[string]any
	if _, err := toml.Decode(string(res.TOML), &doc); err != nil {
		t.Fatalf("the output is not TOML: %v\n%s", err, res.TOML)
	}
	again, err := ImportData(name, data, opts)
	if err != nil || !bytes.Equal(again.TOML, res.TOML) || len(again.Warnings) != len(res.Warnings) {
		t.Fatalf("a second conversion differs (%v)", err)
	}
	for _, w := range res.Warnings {
		if w.Severity != Warning || strings.ContainsAny(w.Msg, "\r\n") {
			t.Fatalf("bad warning %v", w)
		}
	}
}

func FuzzParseSwanctl(f *testing.F) {
	for _, s := range []string{
		"connections {\n a {\n  version = 1\n  remote_addrs = 198.18.0.2\n  local { auth = psk }\n  children { net { local_ts = 192.0.2.0/24\n remote_ts = 198.51.100.0/24 } }\n }\n}\nsecrets { ike { secret = \"x\" } }\n",
		"a : b {\n}\nb { c = \"d\ne\" }\n",
		"connections {\n include inc.conf\n}\n",
		"pools { p { addrs = 203.0.113.0/24\n dns = 203.0.113.53 } }\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, err := ParseSwanctl("f.conf", data, fuzzFS)
		if err != nil {
			checkErrorLines(t, err, data)
			return
		}
		checkConversion(t, "f.conf", "swanctl", data)
	})
}

func FuzzParseIpsecConf(f *testing.F) {
	for _, s := range []string{
		"conn %default\n\tkeyexchange=ikev1\nconn a\n\tleft=198.18.0.1\n\tright=198.18.0.2\n\tauthby=secret\n\tleftsubnet=192.0.2.0/24\n\trightsubnet=198.51.100.0/24\n\tauto=start\n",
		"config setup\n\tuniqueids=no\nconn b\n\talso=a\n\tx=\"q\\\nr\"\nconn a\n\talso=b\n",
		"include x/*.conf\nca c\n\tcacert=c.crt\n\tauto=add\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, err := ParseIpsecConf("f.conf", data, fuzzFS)
		if err != nil {
			checkErrorLines(t, err, data)
			return
		}
		checkConversion(t, "f.conf", "ipsec", data)
	})
}

// leakedSecret returns a secret of data (a quoted string of 8 or more bytes after the ':' of
// its line, not an include line) that the error's message contains, unless the error is about another line that
// holds the same text (an include's quoted pattern is a path, and its error names it).
func leakedSecret(e Diag, data []byte) string {
	lines := bytes.Split(data, []byte("\n"))
	var own []byte
	if e.Pos.File == "f.conf" && e.Pos.Line >= 1 && e.Pos.Line <= len(lines) {
		own = lines[e.Pos.Line-1]
	}
	for n, ln := range lines {
		c := bytes.IndexByte(ln, ':')
		if f := bytes.Fields(ln); c < 0 || len(f) > 0 && string(f[0]) == "include" {
			continue // no secret here: an include's pattern is a path
		}
		for rest := ln[c+1:]; ; {
			i := bytes.IndexByte(rest, '"')
			if i < 0 {
				break
			}
			j := bytes.IndexByte(rest[i+1:], '"')
			if j < 0 {
				break
			}
			q := rest[i+1 : i+1+j]
			rest = rest[i+j+2:]
			if len(q) < 8 || !strings.Contains(e.Msg, string(q)) {
				continue
			}
			if own != nil && n != e.Pos.Line-1 && bytes.Contains(own, q) {
				continue
			}
			return string(q)
		}
	}
	return ""
}

func FuzzParseIpsecSecrets(f *testing.F) {
	for _, s := range []string{
		"a b : PSK \"secret\"\n: RSA key.pem pass\ncarol : XAUTH 0x0102\n",
		"include *.secrets\n# c\n: PIN %smartcard:01 1234\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		es, _, err := ParseIpsecSecrets("f.conf", data, fuzzFS)
		if err != nil {
			checkErrorLines(t, err, data)
			// Messages name the problem, never a quoted secret.
			for _, e := range errorsOf(t, err) {
				if q := leakedSecret(e, data); q != "" {
					t.Fatalf("error %q quotes the secret %q", e, q)
				}
			}
			return
		}
		for _, e := range es {
			if e.Value == "" || e.Type == "" {
				t.Fatalf("entry without type or value: %+v", e)
			}
		}
	})
}

// TestLeakedSecretCheck: the fuzz property finds a quoted secret in a message, and lets an
// include line's error name its own pattern even when a secret has the same text.
func TestLeakedSecretCheck(t *testing.T) {
	data := []byte("a : PSK \"0123456789\"\ninclude [\"0123456789\"\ninclude :[\"abcdefghij\"")
	for _, c := range []struct {
		line int
		msg  string
		leak bool
	}{
		{1, `bad secret "0123456789"`, true},
		{2, `include ["0123456789": bad pattern`, false},
		{0, `0123456789`, true},
		{1, `bad secret`, false},
		{3, `include :["abcdefghij": bad pattern`, false},
	} {
		if got := leakedSecret(Diag{Pos: Pos{File: "f.conf", Line: c.line}, Msg: c.msg}, data) != ""; got != c.leak {
			t.Errorf("line %d %q: leak %v, want %v", c.line, c.msg, got, c.leak)
		}
	}
}

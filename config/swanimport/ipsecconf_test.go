package swanimport

import (
	"strings"
	"testing"
)

func TestParseIpsecConf(t *testing.T) {
	text := `# comment
version 2
config setup
	uniqueids = no   # comment

conn %default
	keyexchange=ikev1
	ike=aes128-sha256-modp2048

conn base
	authby=secret
	leftsubnet=192.0.2.0/24

conn a
	also=base
	leftupdown="/usr/bin/up  --with \"quotes\" \
and a continuation"
	left=198.18.0.1 # trailing comment
	right = 198.18.0.2
	  leftsubnet   =   192.0.2.0/25  
	ike=

conn a
	auto=add
include none/*.conf
ca x
	cacert=ca.crt
`
	c, warnings, err := ParseIpsecConf("ipsec.conf", []byte(text), mapFS{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Setup == nil || c.Setup.key("uniqueids").Value != "no" || len(c.Versions) != 1 || len(c.CAs) != 1 {
		t.Fatalf("setup %+v versions %v cas %v", c.Setup, c.Versions, c.CAs)
	}
	a := c.Conn("a")
	if a == nil || len(c.Conns) != 3 {
		t.Fatalf("conns: %d", len(c.Conns))
	}
	if kv := a.key("leftupdown"); kv == nil || kv.Value != `/usr/bin/up  --with "quotes" and a continuation` || kv.Pos.Line != 16 {
		t.Errorf("quoted continued value: %+v", kv)
	}
	if kv := a.key("auto"); kv == nil || kv.Pos.Line != 24 {
		t.Errorf("merged section: %+v", kv)
	}
	d := &diags{}
	eff, also := c.Effective(a, d)
	for k, want := range map[string]string{"keyexchange": "ikev1", "authby": "secret", "leftsubnet": "192.0.2.0/25",
		"left": "198.18.0.1", "right": "198.18.0.2", "ike": "", "auto": "add"} {
		if kv := eff[k]; kv == nil || kv.Value != want {
			t.Errorf("effective %s = %+v, want %q", k, kv, want)
		}
	}
	if len(also) != 1 || also[0].Value != "base" {
		t.Errorf("also: %+v", also)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Msg, "matches no file") {
		t.Errorf("warnings: %v", warnings)
	}
}

func TestIpsecConfAlsoOrder(t *testing.T) {
	text := "conn %default\n\tx=default\n\ty=default\n\tz=default\n\tw=default\n" +
		"conn p\n\tx=p\n\ty=p\n\tz=p\n" +
		"conn q\n\tx=q\n\ty=q\n" +
		"conn c\n\tx=c\n\talso=p\n\talso=q\n" +
		"conn loop1\n\talso=loop2\n" +
		"conn loop2\n\talso=loop1\n\tv=1\n\talso=nowhere\n"
	c, _, err := ParseIpsecConf("o.conf", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &diags{}
	eff, _ := c.Effective(c.Conn("c"), d)
	for k, want := range map[string]string{"x": "c", "y": "q", "z": "p", "w": "default"} {
		if eff[k].Value != want {
			t.Errorf("%s = %s, want %s (own > later also > earlier also > %%default)", k, eff[k].Value, want)
		}
	}
	eff, _ = c.Effective(c.Conn("loop1"), d)
	if eff["v"] == nil {
		t.Error("loop1 does not inherit loop2's v")
	}
	got := ""
	for _, w := range d.warnings() {
		got += w.String() + "\n"
	}
	if !strings.Contains(got, "makes a loop") || !strings.Contains(got, "also=nowhere: no conn") {
		t.Errorf("warnings:\n%s", got)
	}
}

func TestParseIpsecConfErrors(t *testing.T) {
	for _, c := range []struct {
		text string
		line int
		msg  string
	}{
		{"\tleft=1\n", 1, "outside a section"},
		{"conn a\n\tleft\n", 2, "expected parameter=value"},
		{"conn a\n\tleft=\"open\n", 2, "unterminated quoted string"},
		{"conn a\n\tleft=\"x\" y\n", 2, "text after the closing quote"},
		{"config other\n", 1, "unknown section"},
		{"conn\n", 1, "expected a section"},
		{"left=1\n", 1, "expected a section"},
	} {
		_, _, err := ParseIpsecConf("e.conf", []byte(c.text), nil)
		if err == nil {
			t.Errorf("%q: no error", c.text)
			continue
		}
		e := errorsOf(t, err)[0]
		if e.Pos.Line != c.line || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%q: %v, want line %d %q", c.text, e, c.line, c.msg)
		}
	}
}

func TestParseIpsecSecrets(t *testing.T) {
	text := `# comment
@a.example @b.example : PSK "a secret # with hash"
198.18.0.1 %any	:	PSK 0x0123456789abcdef
: PSK 0sYWJjZGVm
2001:db8::1 : PSK bare-word
: RSA key.pem "pass phrase"
: ECDSA ec.pem
carol : XAUTH "pw"
dave : EAP "pw2"
include more/*.secrets
`
	fsys := mapFS{"more/x.secrets": "eve : NTLM 0x00\n"}
	es, _, err := ParseIpsecSecrets("ipsec.secrets", []byte(text), fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		sel  string
		typ  string
		val  string
		line int
	}{
		{"@a.example @b.example", "PSK", "a secret # with hash", 2},
		{"198.18.0.1 %any", "PSK", "0x0123456789abcdef", 3},
		{"", "PSK", "0sYWJjZGVm", 4},
		{"2001:db8::1", "PSK", "bare-word", 5},
		{"", "RSA", "key.pem", 6},
		{"", "ECDSA", "ec.pem", 7},
		{"carol", "XAUTH", "pw", 8},
		{"dave", "EAP", "pw2", 9},
		{"eve", "NTLM", "0x00", 1},
	}
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d", len(es), len(want))
	}
	for i, w := range want {
		e := es[i]
		if strings.Join(e.Selectors, " ") != w.sel || e.Type != w.typ || e.Value != w.val || e.Pos.Line != w.line {
			t.Errorf("entry %d: %+v, want %+v", i, e, w)
		}
	}
	// Errors name the problem, never the secret.
	for _, bad := range []string{
		`a b PSK "secret-one"`,
		`: PSK "secret-two`,
		`: PSK secret three`,
		`: FOO secret-four`,
		`: PSK "secret-five" x`,
		`: "secret-six"`,
	} {
		_, _, err := ParseIpsecSecrets("s", []byte(bad+"\n"), nil)
		if err == nil {
			t.Errorf("%q: no error", bad)
			continue
		}
		for _, s := range []string{"secret-one", "secret-two", "three", "secret-four", "secret-five", "secret-six"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%q: error %q quotes the secret", bad, err)
			}
		}
	}
}

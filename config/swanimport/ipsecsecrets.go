package swanimport

// A parser for ipsec.secrets (ipsec.secrets(5)): one entry a line, "[selectors] : TYPE
// secret", where the colon has blanks around it (or starts the line), TYPE is PSK, RSA,
// ECDSA, P12, EAP, NTLM, XAUTH or PIN, and a secret is a "quoted string" (no escapes, no
// newline), 0x hex or 0s base64. "include PATTERN" lines and '#' comments as in ipsec.conf.

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// SecretEntry is one line of ipsec.secrets. Value holds the secret text (for PSK, EAP,
// XAUTH, NTLM) or the file name (RSA, ECDSA, P12); Value must never be printed.
type SecretEntry struct {
	Selectors []string
	Type      string // upper case
	Value     string
	Pos       Pos
	used      bool
}

// ParseIpsecSecrets parses ipsec.secrets text; fsys follows includes (nil: reported).
// Syntax errors are returned as Errors; their messages never quote a secret.
func ParseIpsecSecrets(name string, data []byte, fsys FS) ([]*SecretEntry, []Diag, error) {
	d := &diags{}
	out := parseIpsecSecrets(name, data, fsys, d, 0)
	if errs := d.errors(); len(errs) > 0 {
		return nil, d.warnings(), errs
	}
	return out, d.warnings(), nil
}

func parseIpsecSecrets(name string, data []byte, fsys FS, d *diags, depth int) []*SecretEntry {
	var out []*SecretEntry
	for i, l := range strings.Split(string(data), "\n") {
		pos := Pos{File: name, Line: i + 1}
		l = strings.TrimSpace(strings.TrimSuffix(l, "\r"))
		if l == "" || l[0] == '#' {
			continue
		}
		if f := strings.Fields(l); f[0] == "include" {
			if len(f) != 2 {
				d.errorf(pos, "include needs one file name")
				continue
			}
			out = append(out, includeSecrets(pos, f[1], fsys, d, depth)...)
			continue
		}
		e, err := parseSecretLine(l)
		if err != nil {
			d.errorf(pos, "%v", err)
			continue
		}
		e.Pos = pos
		out = append(out, e)
	}
	return out
}

func includeSecrets(pos Pos, pattern string, fsys FS, d *diags, depth int) []*SecretEntry {
	if fsys == nil {
		d.warnf(pos, "include %s is not followed here (no file system)", pattern)
		return nil
	}
	if depth+1 > maxIncludeDepth {
		d.errorf(pos, "include %s: includes nested deeper than %d (a loop?)", pattern, maxIncludeDepth)
		return nil
	}
	full := pattern
	if !filepath.IsAbs(pattern) {
		full = filepath.Join(filepath.Dir(pos.File), pattern)
	}
	matches, err := fsys.Glob(full)
	if err != nil {
		d.errorf(pos, "include %s: bad pattern: %v", pattern, err)
		return nil
	}
	if len(matches) == 0 {
		d.warnf(pos, "include %s matches no file; nothing included", pattern)
		return nil
	}
	sort.Strings(matches)
	var out []*SecretEntry
	for i, m := range matches {
		if i >= maxIncludeFiles {
			d.errorf(pos, "include %s: more than %d files", pattern, maxIncludeFiles)
			break
		}
		data, err := fsys.ReadFile(m)
		if err != nil {
			d.errorf(pos, "include %s: cannot read %s: %v", pattern, m, err)
			continue
		}
		out = append(out, parseIpsecSecrets(m, data, fsys, d, depth+1)...)
	}
	d.notef(pos, "include %s: read %s", pattern, strings.Join(matches, ", "))
	return out
}

var secretTypes = []string{"PSK", "RSA", "ECDSA", "P12", "EAP", "NTLM", "XAUTH", "PIN"}

// parseSecretLine splits "[selectors] : TYPE value". Errors never quote the value.
func parseSecretLine(l string) (*SecretEntry, error) {
	colon := -1
	for i := 0; i < len(l); i++ {
		if l[i] != ':' {
			continue
		}
		before := i == 0 || l[i-1] == ' ' || l[i-1] == '\t'
		after := i+1 == len(l) || l[i+1] == ' ' || l[i+1] == '\t'
		if before && after {
			colon = i
			break
		}
	}
	if colon < 0 {
		return nil, fmt.Errorf("expected \"[selectors] : TYPE secret\" (a colon with blanks around it)")
	}
	e := &SecretEntry{Selectors: strings.Fields(l[:colon])}
	rest := strings.TrimSpace(l[colon+1:])
	typ, val, _ := strings.Cut(rest, " ")
	if t2, v2, ok := strings.Cut(rest, "\t"); ok && len(t2) < len(typ) {
		typ, val = t2, v2
	}
	e.Type = strings.ToUpper(typ)
	known := false
	for _, t := range secretTypes {
		known = known || t == e.Type
	}
	if !known && strings.ContainsAny(typ, "\"'") {
		// `: "secret"` without a type: the token is the secret itself, so it is not echoed.
		return nil, fmt.Errorf("missing secret type before a quoted value; want PSK, RSA, ECDSA, P12, EAP, NTLM, XAUTH or PIN")
	}
	if !known {
		return nil, fmt.Errorf("unknown secret type %q; want PSK, RSA, ECDSA, P12, EAP, NTLM, XAUTH or PIN", clip(typ))
	}
	val = strings.TrimSpace(val)
	switch {
	case strings.HasPrefix(val, "\""):
		end := strings.IndexByte(val[1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("%s secret: unterminated quoted string", e.Type)
		}
		after := strings.TrimSpace(val[end+2:])
		if after != "" && after[0] != '#' && e.Type != "RSA" && e.Type != "ECDSA" && e.Type != "P12" && e.Type != "PIN" {
			return nil, fmt.Errorf("%s secret: text after the closing quote", e.Type)
		}
		e.Value = val[1 : end+1]
	default:
		e.Value = stripComment(val)
		if (e.Type == "RSA" || e.Type == "ECDSA" || e.Type == "P12" || e.Type == "PIN") && e.Value != "" {
			e.Value = strings.Fields(e.Value)[0] // a passphrase may follow the file name
		} else if strings.ContainsAny(e.Value, " \t") {
			return nil, fmt.Errorf("%s secret: quote a secret that contains blanks", e.Type)
		}
	}
	if e.Value == "" {
		return nil, fmt.Errorf("%s entry without a value", e.Type)
	}
	return e, nil
}

package swanimport

// A parser for the stroke/starter ipsec.conf (ipsec.conf(5)): sections that start in the
// first column ("config setup", "conn NAME", "ca NAME"), parameters on indented lines
// ("key=value"), "include FILE" lines, comments after '#' at the start of a line or after a
// blank. Values: whitespace runs shrink to one space; "double-quoted" values keep theirs,
// know \" \\ \n \r \t \b \f escapes and continue on the next line after a trailing '\'.
// Sections of the same type and name are merged. "also" and "%default" are kept for the
// converter, which resolves them (Conn.Effective).

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// IpsecConf is a parsed ipsec.conf. It belongs to one parse and is not safe for concurrent
// use (converting marks keys as read).
type IpsecConf struct {
	Setup    *Stanza   // "config setup", or nil
	Conns    []*Stanza // in order of first appearance, %default included
	CAs      []*Stanza
	Versions []Pos // obsolete "version 2" lines
}

// Stanza is one section: its parameters in the order written (a parameter set twice keeps
// the later value) and its "also" references, which may repeat.
type Stanza struct {
	Type, Name string
	Pos        Pos
	Keys       []*KV
	Also       []*KV
}

func (s *Stanza) key(k string) *KV {
	for _, kv := range s.Keys {
		if kv.Key == k {
			return kv
		}
	}
	return nil
}

// Conn returns the conn section named name, or nil.
func (c *IpsecConf) Conn(name string) *Stanza {
	for _, s := range c.Conns {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ParseIpsecConf parses ipsec.conf text; fsys follows includes (nil: reported, not
// followed). Syntax errors are returned as Errors.
func ParseIpsecConf(name string, data []byte, fsys FS) (*IpsecConf, []Diag, error) {
	d := &diags{}
	c := parseIpsecConf(name, data, fsys, d)
	if errs := d.errors(); len(errs) > 0 {
		return nil, d.warnings(), errs
	}
	return c, d.warnings(), nil
}

type ipsecParser struct {
	fs    FS
	d     *diags
	files int
	conf  *IpsecConf
}

func parseIpsecConf(name string, data []byte, fsys FS, d *diags) *IpsecConf {
	p := &ipsecParser{fs: fsys, d: d, files: 1, conf: &IpsecConf{}}
	p.file(name, data, 0)
	return p.conf
}

// logicalLines splits text into lines, joining a quoted value continued by a trailing
// backslash; each line carries the number of its first physical line.
type logicalLine struct {
	text string
	line int
}

func splitIpsecLines(data string) []logicalLine {
	var out []logicalLine
	phys := strings.Split(data, "\n")
	for i := 0; i < len(phys); i++ {
		start := i
		l := strings.TrimSuffix(phys[i], "\r")
		// A quoted string that is still open at a trailing backslash continues.
		for openQuoteContinues(l) && i+1 < len(phys) {
			i++
			l = l[:len(l)-1] + strings.TrimSuffix(phys[i], "\r")
		}
		out = append(out, logicalLine{text: l, line: start + 1})
	}
	return out
}

// openQuoteContinues reports whether l ends with a backslash inside an open double quote.
func openQuoteContinues(l string) bool {
	if !strings.HasSuffix(l, "\\") {
		return false
	}
	in := false
	for i := 0; i < len(l)-1; i++ {
		switch {
		case l[i] == '\\' && in:
			i++
		case l[i] == '"':
			in = !in
		}
	}
	return in
}

func (p *ipsecParser) file(name string, data []byte, depth int) {
	var cur *Stanza
	for _, ll := range splitIpsecLines(string(data)) {
		pos := Pos{File: name, Line: ll.line}
		l := ll.text
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if cur == nil {
				p.d.errorf(pos, "indented line outside a section; parameters belong under \"conn NAME\", \"ca NAME\" or \"config setup\"")
				return
			}
			key, val, err := parseParam(trimmed)
			if err != nil {
				p.d.errorf(pos, "%v", err)
				return
			}
			kv := &KV{Key: key, Value: val, Pos: pos}
			if key == "also" {
				cur.Also = append(cur.Also, kv)
				continue
			}
			if old := cur.key(key); old != nil {
				p.d.warnf(old.Pos, "%s is set again at %s; strongSwan uses the later value, and so does the conversion", key, pos)
				old.Value, old.Pos = val, pos
				continue
			}
			cur.Keys = append(cur.Keys, kv)
			continue
		}
		fields := strings.Fields(stripComment(trimmed))
		switch {
		case len(fields) == 2 && fields[0] == "include":
			cur = nil
			p.include(pos, fields[1], depth)
		case len(fields) >= 1 && fields[0] == "version":
			cur = nil
			p.conf.Versions = append(p.conf.Versions, pos)
		case len(fields) == 2 && (fields[0] == "conn" || fields[0] == "ca" || fields[0] == "config"):
			if fields[0] == "config" && fields[1] != "setup" {
				p.d.errorf(pos, "unknown section \"config %s\"; the only config section is \"config setup\"", fields[1])
				return
			}
			cur = p.section(fields[0], fields[1], pos)
		default:
			p.d.errorf(pos, "expected a section (\"conn NAME\", \"ca NAME\", \"config setup\") or \"include FILE\" in the first column; indent parameters")
			return
		}
	}
}

// section returns the stanza of that type and name, creating it (same-named ones merge).
func (p *ipsecParser) section(typ, name string, pos Pos) *Stanza {
	switch typ {
	case "config":
		if p.conf.Setup == nil {
			p.conf.Setup = &Stanza{Type: typ, Name: name, Pos: pos}
		}
		return p.conf.Setup
	case "ca":
		for _, s := range p.conf.CAs {
			if s.Name == name {
				return s
			}
		}
		s := &Stanza{Type: typ, Name: name, Pos: pos}
		p.conf.CAs = append(p.conf.CAs, s)
		return s
	}
	if s := p.conf.Conn(name); s != nil {
		return s
	}
	s := &Stanza{Type: typ, Name: name, Pos: pos}
	p.conf.Conns = append(p.conf.Conns, s)
	return s
}

// stripComment drops a comment that starts at a blank followed by '#'.
func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "\t#"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// parseParam reads "key = value" (value possibly quoted, possibly followed by a comment).
func parseParam(s string) (string, string, error) {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return "", "", fmt.Errorf("expected parameter=value, got %q", clip(s))
	}
	key := strings.TrimSpace(s[:eq])
	if key == "" || strings.ContainsAny(key, " \t\"#") {
		return "", "", fmt.Errorf("bad parameter name %q", clip(key))
	}
	rest := strings.TrimLeft(s[eq+1:], " \t")
	if strings.HasPrefix(rest, "\"") {
		var b strings.Builder
		i := 1
		for ; i < len(rest); i++ {
			c := rest[i]
			if c == '"' {
				break
			}
			if c == '\\' && i+1 < len(rest) {
				i++
				switch rest[i] {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case 'b':
					b.WriteByte('\b')
				case 'f':
					b.WriteByte('\f')
				default:
					b.WriteByte(rest[i])
				}
				continue
			}
			b.WriteByte(c)
		}
		if i >= len(rest) {
			return "", "", fmt.Errorf("value of %s: unterminated quoted string", key)
		}
		after := strings.TrimSpace(rest[i+1:])
		if after != "" && after[0] != '#' {
			return "", "", fmt.Errorf("value of %s: text after the closing quote", key)
		}
		return key, b.String(), nil
	}
	if rest != "" && rest[0] == '#' {
		return key, "", nil
	}
	return key, strings.Join(strings.Fields(stripComment(rest)), " "), nil
}

// clip shortens text quoted in a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func (p *ipsecParser) include(pos Pos, pattern string, depth int) {
	if p.fs == nil {
		p.d.warnf(pos, "include %s is not followed here (no file system); its sections are not converted", pattern)
		return
	}
	if depth+1 > maxIncludeDepth {
		p.d.errorf(pos, "include %s: includes nested deeper than %d (a loop?)", pattern, maxIncludeDepth)
		return
	}
	full := pattern
	if !filepath.IsAbs(pattern) {
		full = filepath.Join(filepath.Dir(pos.File), pattern)
	}
	matches, err := p.fs.Glob(full)
	if err != nil {
		p.d.errorf(pos, "include %s: bad pattern: %v", pattern, err)
		return
	}
	if len(matches) == 0 {
		p.d.warnf(pos, "include %s matches no file; nothing included", pattern)
		return
	}
	sort.Strings(matches)
	for _, m := range matches {
		if p.files++; p.files > maxIncludeFiles {
			p.d.errorf(pos, "include %s: more than %d files in one import", pattern, maxIncludeFiles)
			return
		}
		data, err := p.fs.ReadFile(m)
		if err != nil {
			p.d.errorf(pos, "include %s: cannot read %s: %v", pattern, m, err)
			return
		}
		p.file(m, data, depth+1)
	}
	p.d.notef(pos, "include %s: read %s", pattern, strings.Join(matches, ", "))
}

// Effective returns the parameters of a conn with %default and its "also" references
// applied: its own settings win over the referenced sections' (later "also" over earlier),
// which win over %default. The KVs are shared with the stanzas they come from. It also
// returns the also= settings it followed. Missing references and loops are reported.
func (c *IpsecConf) Effective(conn *Stanza, d *diags) (map[string]*KV, []*KV) {
	out := map[string]*KV{}
	var also []*KV
	if def := c.Conn("%default"); def != nil && def != conn {
		c.merge(out, &also, def, map[*Stanza]bool{conn: true}, d, 0)
	}
	c.merge(out, &also, conn, map[*Stanza]bool{}, d, 0)
	return out, also
}

func (c *IpsecConf) merge(out map[string]*KV, also *[]*KV, s *Stanza, visiting map[*Stanza]bool, d *diags, depth int) {
	if depth > maxRefDepth {
		d.errorf(s.Pos, "conn %s: also= nested deeper than %d", s.Name, maxRefDepth)
		return
	}
	visiting[s] = true
	defer delete(visiting, s)
	for _, a := range s.Also {
		*also = append(*also, a)
		t := c.Conn(a.Value)
		switch {
		case t == nil:
			a.used = true
			d.warnf(a.Pos, "also=%s: no conn of that name; nothing inherited", a.Value)
		case visiting[t]:
			a.used = true
			d.warnf(a.Pos, "also=%s makes a loop; ignored", a.Value)
		default:
			c.merge(out, also, t, visiting, d, depth+1)
		}
	}
	for _, kv := range s.Keys {
		out[kv.Key] = kv
	}
}

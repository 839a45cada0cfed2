package swanimport

// A parser for strongSwan's settings syntax, which swanctl.conf shares with strongswan.conf
// (strongswan.conf(5) "SYNTAX", "REFERENCING OTHER SECTIONS", "INCLUDING FILES"):
//
//	settings := (section | keyvalue | include)*
//	section  := name [":" absname ("," absname)*] "{" settings "}"
//	keyvalue := key "=" value NEWLINE
//	include  := "include" pattern NEWLINE        (relative to the including file; sh(1) globs)
//
// A value runs to the end of the line, a '#' or a '}'; its words are joined by single spaces,
// and "quoted strings" keep their spaces, know \n \r \t escapes and may span lines. Sections
// of the same name are merged and a key set twice keeps its last value, as strongSwan does;
// both are reported, so that no line is dropped silently. The parser keeps the file and line
// of every key and section.

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Limits that keep a hostile or broken input bounded.
const (
	maxIncludeDepth = 10      // nested includes
	maxIncludeFiles = 256     // files read in one import
	maxNesting      = 64      // nested sections
	maxFileSize     = 4 << 20 // bytes per file
	maxRefDepth     = 16      // section references followed in a chain
)

// Section is one section of a settings file: its keys and sub-sections in the order first
// written, with their positions. A Section belongs to one parse; it is not safe for
// concurrent use (converting marks keys as read).
type Section struct {
	Name string
	Pos  Pos
	Keys []*KV
	Subs []*Section

	path     string // dotted path from the root, for messages
	refs     []sectionRef
	resolved bool
	template bool // referenced by another section: not a section in its own right
	used     bool
}

// KV is one key = value setting.
type KV struct {
	Key   string
	Value string
	Pos   Pos
	used  bool
}

type sectionRef struct {
	name string
	pos  Pos
}

// FS gives the parsers the files an include names. Paths are OS paths; Glob follows
// filepath.Glob. An FS need not be safe for concurrent use.
type FS interface {
	ReadFile(name string) ([]byte, error)
	Glob(pattern string) ([]string, error)
}

// Key returns the setting named key, marking it read, or nil.
func (s *Section) Key(key string) *KV {
	for _, kv := range s.Keys {
		if kv.Key == key {
			kv.used = true
			return kv
		}
	}
	return nil
}

// Sub returns the sub-section named name, marking it read, or nil.
func (s *Section) Sub(name string) *Section {
	for _, sub := range s.Subs {
		if sub.Name == name {
			sub.used = true
			return sub
		}
	}
	return nil
}

// Path is the section's dotted name from the root ("connections.site-b.children.net").
func (s *Section) Path() string { return s.path }

func (s *Section) keyByName(key string) *KV {
	for _, kv := range s.Keys {
		if kv.Key == key {
			return kv
		}
	}
	return nil
}

func (s *Section) subByName(name string) *Section {
	for _, sub := range s.Subs {
		if sub.Name == name {
			return sub
		}
	}
	return nil
}

// settingsParser reads one settings file and its includes into a tree.
type settingsParser struct {
	fs    FS
	d     *diags
	files int
}

// ParseSwanctl parses swanctl.conf text (name is used in positions and to resolve includes
// through fsys; nil fsys reports includes as not followed). Syntax errors are returned as
// Errors; warnings (merged sections, overridden keys, includes that match nothing) are
// returned beside the tree.
func ParseSwanctl(name string, data []byte, fsys FS) (*Section, []Diag, error) {
	d := &diags{}
	root := parseSettings(name, data, fsys, d)
	if errs := d.errors(); len(errs) > 0 {
		return nil, d.warnings(), errs
	}
	return root, d.warnings(), nil
}

func parseSettings(name string, data []byte, fsys FS, d *diags) *Section {
	root := &Section{Pos: Pos{File: name}, used: true}
	p := &settingsParser{fs: fsys, d: d, files: 1}
	p.file(name, data, root, 0)
	if len(d.errors()) == 0 {
		resolveRefs(root, d)
	}
	return root
}

// scanner walks one file's bytes, counting lines.
type scanner struct {
	s    string
	i    int
	line int
	file string
}

func (sc *scanner) eof() bool  { return sc.i >= len(sc.s) }
func (sc *scanner) peek() byte { return sc.s[sc.i] }
func (sc *scanner) pos() Pos   { return Pos{File: sc.file, Line: sc.line} }

// skipSpace skips blanks on the current line.
func (sc *scanner) skipSpace() {
	for !sc.eof() && (sc.peek() == ' ' || sc.peek() == '\t' || sc.peek() == '\r') {
		sc.i++
	}
}

// skipBlank skips blanks, newlines and comments.
func (sc *scanner) skipBlank() {
	for !sc.eof() {
		switch sc.peek() {
		case ' ', '\t', '\r':
			sc.i++
		case '\n':
			sc.i++
			sc.line++
		case '#':
			for !sc.eof() && sc.peek() != '\n' {
				sc.i++
			}
		default:
			return
		}
	}
}

// isNameByte reports whether c may appear in a section name or key.
func isNameByte(c byte) bool {
	return !strings.ContainsRune("#{}=\",:\r\n\t ", rune(c))
}

func (sc *scanner) name() string {
	start := sc.i
	for !sc.eof() && isNameByte(sc.peek()) {
		sc.i++
	}
	return sc.s[start:sc.i]
}

// quoted reads a "string" (the opening quote is next) with its escapes; it may span lines.
func (sc *scanner) quoted() (string, error) {
	start := sc.pos()
	sc.i++
	var b strings.Builder
	for !sc.eof() {
		c := sc.peek()
		switch c {
		case '"':
			sc.i++
			return b.String(), nil
		case '\r':
			sc.i++
		case '\n':
			sc.line++
			sc.i++
			b.WriteByte('\n')
		case '\\':
			sc.i++
			if sc.eof() {
				return "", fmt.Errorf("unterminated string (opened on line %d)", start.Line)
			}
			e := sc.peek()
			sc.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '\n': // an escaped end of line joins the lines
				sc.line++
			case '\r':
				if !sc.eof() && sc.peek() == '\n' {
					sc.i++
					sc.line++
				}
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			sc.i++
		}
	}
	return "", fmt.Errorf("unterminated string (opened on line %d)", start.Line)
}

// value reads a value after '=': words and quoted strings up to a newline, '#' or '}' (the
// last two are left for the caller).
func (sc *scanner) value() (string, error) {
	var parts []string
	for {
		sc.skipSpace()
		if sc.eof() {
			break
		}
		c := sc.peek()
		if c == '\n' || c == '#' || c == '}' {
			break
		}
		if c == '"' {
			s, err := sc.quoted()
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
			continue
		}
		start := sc.i
		for !sc.eof() && !strings.ContainsRune("#}\"\r\n\t ", rune(sc.peek())) {
			sc.i++
		}
		parts = append(parts, sc.s[start:sc.i])
	}
	return strings.Join(parts, " "), nil
}

// includeArg reads the file pattern of an include: a quoted string, or a word in which
// '\' escapes a blank, '#', '}' or '"'.
func (sc *scanner) includeArg() (string, error) {
	sc.skipSpace()
	if !sc.eof() && sc.peek() == '"' {
		return sc.quoted()
	}
	var b strings.Builder
	for !sc.eof() {
		c := sc.peek()
		if strings.ContainsRune("#}\r\n\t ", rune(c)) {
			break
		}
		if c == '\\' && sc.i+1 < len(sc.s) && strings.ContainsRune("\"#} ", rune(sc.s[sc.i+1])) {
			b.WriteByte(sc.s[sc.i+1])
			sc.i += 2
			continue
		}
		b.WriteByte(c)
		sc.i++
	}
	return b.String(), nil
}

// file parses one file's text into the section into (includes add to the section they
// stand in, as strongSwan does).
func (p *settingsParser) file(name string, data []byte, into *Section, depth int) {
	sc := &scanner{s: string(data), line: 1, file: name}
	stack := []*Section{into}
	fail := func(pos Pos, format string, args ...any) {
		p.d.errorf(pos, format, args...)
	}
	for {
		sc.skipBlank()
		if sc.eof() {
			if len(stack) > 1 {
				top := stack[len(stack)-1]
				fail(top.Pos, "section %q is not closed: a '}' is missing", top.Name)
			}
			return
		}
		cur := stack[len(stack)-1]
		pos := sc.pos()
		switch c := sc.peek(); c {
		case '}':
			if len(stack) == 1 {
				fail(pos, "unexpected '}': no section is open here")
				return
			}
			stack = stack[:len(stack)-1]
			sc.i++
			continue
		case '{', '=', ':', ',':
			fail(pos, "unexpected %q: a section name or key must come first", string(c))
			return
		case '"':
			fail(pos, "unexpected string: only values may be quoted")
			return
		}
		name := sc.name()
		if name == "include" && !sc.eof() && (sc.peek() == ' ' || sc.peek() == '\t') {
			save, saveLine := sc.i, sc.line
			sc.skipSpace()
			if !sc.eof() && !strings.ContainsRune("={:\n#", rune(sc.peek())) {
				pattern, err := sc.includeArg()
				if err != nil {
					fail(pos, "include: %v", err)
					return
				}
				p.include(pos, pattern, cur, depth)
				continue
			}
			sc.i, sc.line = save, saveLine
		}
		sc.skipSpace()
		if sc.eof() {
			fail(pos, "%q at the end of the file: expected '=' or '{' after it", name)
			return
		}
		switch sc.peek() {
		case '=':
			sc.i++
			v, err := sc.value()
			if err != nil {
				fail(pos, "value of %s: %v", name, err)
				return
			}
			addKV(cur, &KV{Key: name, Value: v, Pos: pos}, p.d)
		case '{', ':', '\n', '#':
			var refs []sectionRef
			if sc.peek() == ':' {
				sc.i++
				var err error
				if refs, err = sc.references(); err != nil {
					fail(pos, "section %s: %v", name, err)
					return
				}
			}
			sc.skipBlank() // "name NEWLINE {" is allowed
			if sc.eof() || sc.peek() != '{' {
				fail(pos, "expected '=' or '{' after %q", name)
				return
			}
			sc.i++
			if len(stack) >= maxNesting {
				fail(pos, "sections nested deeper than %d", maxNesting)
				return
			}
			sub := addSection(cur, name, pos)
			sub.refs = append(sub.refs, refs...)
			stack = append(stack, sub)
		default:
			fail(pos, "unexpected %q after %q: expected '=' or '{'", string(sc.peek()), name)
			return
		}
	}
}

// references reads "absname[, absname]*" after a section name's ':'.
func (sc *scanner) references() ([]sectionRef, error) {
	var refs []sectionRef
	for {
		sc.skipSpace()
		pos := sc.pos()
		start := sc.i
		for !sc.eof() && (isNameByte(sc.peek()) || sc.peek() == '.') {
			sc.i++
		}
		if sc.i == start {
			return nil, fmt.Errorf("expected the name of a section to reference")
		}
		refs = append(refs, sectionRef{name: sc.s[start:sc.i], pos: pos})
		sc.skipSpace()
		if sc.eof() || sc.peek() != ',' {
			return refs, nil
		}
		sc.i++
	}
}

func addSection(parent *Section, name string, pos Pos) *Section {
	if s := parent.subByName(name); s != nil {
		return s // sections of the same name are merged
	}
	p := name
	if parent.path != "" {
		p = parent.path + "." + name
	}
	s := &Section{Name: name, Pos: pos, path: p}
	parent.Subs = append(parent.Subs, s)
	return s
}

func addKV(s *Section, kv *KV, d *diags) {
	if old := s.keyByName(kv.Key); old != nil {
		d.warnf(old.Pos, "%s is set again at %s; strongSwan uses the later value, and so does the conversion", kv.Key, kv.Pos)
		old.Value, old.Pos = kv.Value, kv.Pos
		return
	}
	s.Keys = append(s.Keys, kv)
}

// include reads the files a pattern names, relative to the including file's directory.
func (p *settingsParser) include(pos Pos, pattern string, into *Section, depth int) {
	if pattern == "" {
		p.d.errorf(pos, "include without a file name")
		return
	}
	if p.fs == nil {
		p.d.warnf(pos, "include %s is not followed here (no file system); its settings are not converted", pattern)
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
		if strings.ContainsAny(pattern, "*?[") {
			p.d.warnf(pos, "include %s matches no file; nothing included", pattern)
		} else {
			p.d.errorf(pos, "include %s: no such file", pattern)
		}
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
		p.file(m, data, into, depth+1)
	}
	p.d.notef(pos, "include %s: read %s", pattern, strings.Join(matches, ", "))
}

// resolveRefs lets every section that names others after ':' inherit their keys and
// sub-sections (its own settings win; inherited ones follow its own), then marks the
// referenced sections as templates.
func resolveRefs(root *Section, d *diags) {
	var walk func(s *Section)
	walk = func(s *Section) {
		resolve(root, s, d, 0)
		for _, sub := range s.Subs {
			walk(sub)
		}
	}
	walk(root)
}

func resolve(root, s *Section, d *diags, depth int) {
	if s.resolved {
		return
	}
	if depth > maxRefDepth {
		d.errorf(s.Pos, "section %s: references nested deeper than %d (a loop?)", s.path, maxRefDepth)
		return
	}
	s.resolved = true
	for _, r := range s.refs {
		t := lookupPath(root, r.name)
		if t == nil {
			d.warnf(r.pos, "section %s references %s, which does not exist; nothing inherited", s.path, r.name)
			continue
		}
		if t == s || isAncestor(t, s) {
			d.errorf(r.pos, "section %s references %s, which contains it", s.path, r.name)
			continue
		}
		markTemplate(t)
		resolve(root, t, d, depth+1)
		inherit(root, s, t, d, depth+1)
	}
}

// markTemplate marks a referenced section and its sub-sections as templates.
func markTemplate(t *Section) {
	t.template = true
	for _, sub := range t.Subs {
		markTemplate(sub)
	}
}

// inherit copies what s lacks from t; keys are shared, so reading them through s counts.
func inherit(root, s, t *Section, d *diags, depth int) {
	if depth > maxRefDepth {
		return
	}
	resolve(root, t, d, depth)
	for _, kv := range t.Keys {
		if s.keyByName(kv.Key) == nil {
			s.Keys = append(s.Keys, kv)
		}
	}
	for _, tsub := range t.Subs {
		sub := s.subByName(tsub.Name)
		if sub == nil {
			sub = &Section{Name: tsub.Name, Pos: tsub.Pos, path: s.path + "." + tsub.Name, resolved: true}
			s.Subs = append(s.Subs, sub)
		}
		inherit(root, sub, tsub, d, depth+1)
	}
}

func lookupPath(root *Section, name string) *Section {
	s := root
	for _, part := range strings.Split(name, ".") {
		if s = s.subByName(part); s == nil {
			return nil
		}
	}
	return s
}

// isAncestor reports whether a contains b.
func isAncestor(a, b *Section) bool {
	return b.path != "" && a.path != "" && strings.HasPrefix(b.path, a.path+".")
}

// osFS reads the real file system, each file bounded by maxFileSize.
type osFS struct{}

func (osFS) ReadFile(name string) ([]byte, error) { return readBounded(name) }
func (osFS) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(filepath.ToSlash(pattern), ""); err != nil {
		return nil, err
	}
	return filepath.Glob(pattern)
}

package config

// Line numbers for every key and value.
//
// BurntSushi/toml v1.6.0 keeps the position of each key in MetaData's unexported keyInfo map,
// keyed by the dotted key without array indices (so the 2nd [[connection]]'s "name" overwrites
// the 1st's); only decode type errors and syntax errors carry a Position. So, once the real
// parser has accepted a document, this small scanner walks the same text and records the line
// on which every key, table header and array element starts, under a path that includes
// array indices. It only has to understand valid TOML (1.0 and the 1.1 additions v1.6.0
// accepts: newlines and trailing commas in inline tables); on anything else it stops early
// and the caller falls back to the enclosing table's line.

import (
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// pathSep starts every segment of a position path, so the root is "" and a key "" at the
// root is pathSep, not the root again. A key's segment is "." and the key, an array
// element's "#" and its index, so the two never collide: a quoted key may well be "#0", and
// may hold a NUL or any other character through an escape ("\u0000"), so a key's NULs (and
// the \x01 that escapes them) are escaped too and a segment never contains pathSep.
const pathSep = "\x00"

// keyEscaper makes a key NUL-free, reversibly: \x01 → \x01\x01, NUL → \x01 "0".
var keyEscaper = strings.NewReplacer("\x01", "\x01\x01", "\x00", "\x010")

func joinPath(parent, key string) string {
	if strings.ContainsAny(key, "\x00\x01") {
		key = keyEscaper.Replace(key)
	}
	return parent + pathSep + "." + key
}

func elemPath(parent string, i int) string { return parent + pathSep + "#" + strconv.Itoa(i) }

// positions maps a path to the line (1-based) where that key, header or element starts.
type positions struct {
	lines map[string]int
	weak  map[string]bool // set by an implicit table (a dotted key or a deeper header)
}

// line returns the line of path, or of its nearest ancestor that has one, or 0.
func (p *positions) line(path string) int {
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndex(path, pathSep)
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

type scanner struct {
	src    string
	i      int
	starts []int          // byte offset of each line start
	arrays map[string]int // array-of-tables path → elements seen so far
	pos    *positions
}

// scanPositions indexes a document the TOML parser has accepted.
func scanPositions(src string) *positions {
	s := &scanner{src: src, arrays: map[string]int{},
		pos: &positions{lines: map[string]int{}, weak: map[string]bool{}}}
	s.starts = append(s.starts, 0)
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			s.starts = append(s.starts, i+1)
		}
	}
	s.document()
	return s.pos
}

func (s *scanner) lineAt(off int) int {
	return sort.Search(len(s.starts), func(i int) bool { return s.starts[i] > off })
}

func (s *scanner) set(path string, off int, implicit bool) {
	if _, ok := s.pos.lines[path]; ok && (implicit || !s.pos.weak[path]) {
		return
	}
	s.pos.lines[path] = s.lineAt(off)
	s.pos.weak[path] = implicit
}

func (s *scanner) peek(k int) byte {
	if s.i+k < len(s.src) {
		return s.src[s.i+k]
	}
	return 0
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

// skip skips blanks, and with nl also newlines and comments.
func (s *scanner) skip(nl bool) {
	for !s.eof() {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t':
			s.i++
		case nl && (c == '\n' || c == '\r'):
			s.i++
		case nl && c == '#':
			for !s.eof() && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

func (s *scanner) document() {
	cur := ""
	for {
		s.skip(true)
		if s.eof() {
			return
		}
		start := s.i
		switch {
		case s.peek(0) == '[' && s.peek(1) == '[':
			s.i += 2
			keys := s.key()
			if len(keys) == 0 {
				return
			}
			s.past(']')
			s.past(']')
			arr := joinPath(s.resolve(keys[:len(keys)-1], start), keys[len(keys)-1])
			n := s.arrays[arr]
			s.arrays[arr] = n + 1
			cur = elemPath(arr, n)
			s.set(arr, start, false)
			s.set(cur, start, false)
		case s.peek(0) == '[':
			s.i++
			keys := s.key()
			if len(keys) == 0 {
				return
			}
			s.past(']')
			cur = s.resolve(keys, start)
			s.set(cur, start, false)
		default:
			if !s.keyValue(cur) {
				return
			}
		}
	}
}

// resolve turns a header's keys into a path, descending into the last element of every
// array of tables on the way (TOML: [a.b] after [[a]] extends a's last element).
func (s *scanner) resolve(keys []string, off int) string {
	p := ""
	for _, k := range keys {
		p = joinPath(p, k)
		if n, ok := s.arrays[p]; ok {
			p = elemPath(p, n-1)
		} else {
			s.set(p, off, true)
		}
	}
	return p
}

// keyValue scans `a.b = value` inside table path cur; false when it cannot make progress.
func (s *scanner) keyValue(cur string) bool {
	start := s.i
	keys := s.key()
	s.skip(false)
	if len(keys) == 0 || s.peek(0) != '=' {
		return false
	}
	s.i++
	s.skip(false)
	p := cur
	for _, k := range keys[:len(keys)-1] {
		p = joinPath(p, k)
		s.set(p, start, true)
	}
	p = joinPath(p, keys[len(keys)-1])
	s.set(p, start, false)
	return s.value(p)
}

// past advances beyond the next c.
func (s *scanner) past(c byte) {
	for !s.eof() {
		s.i++
		if s.src[s.i-1] == c {
			return
		}
	}
}

// key scans a dotted key: bare, "basic" or 'literal' parts separated by dots.
func (s *scanner) key() []string {
	var keys []string
	for {
		s.skip(false)
		switch c := s.peek(0); {
		case c == '"':
			start := s.i
			s.basicString()
			keys = append(keys, decodeQuotedKey(s.src[start:s.i]))
		case c == '\'':
			s.i++
			start := s.i
			for !s.eof() && s.src[s.i] != '\'' && s.src[s.i] != '\n' {
				s.i++
			}
			keys = append(keys, s.src[start:s.i])
			if !s.eof() {
				s.i++
			}
		case isBareKeyChar(c):
			start := s.i
			for !s.eof() && isBareKeyChar(s.src[s.i]) {
				s.i++
			}
			keys = append(keys, s.src[start:s.i])
		default:
			return nil
		}
		s.skip(false)
		if s.peek(0) != '.' {
			return keys
		}
		s.i++
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// decodeQuotedKey lets the real parser decode a "basic" key's escapes.
func decodeQuotedKey(quoted string) string {
	var m map[string]string
	if _, err := toml.Decode("k = "+quoted, &m); err != nil {
		return strings.Trim(quoted, `"`)
	}
	return m["k"]
}

// basicString skips a "…" string (at s.i) honouring backslash escapes.
func (s *scanner) basicString() {
	s.i++
	for !s.eof() {
		switch s.src[s.i] {
		case '\\':
			s.i = min(s.i+2, len(s.src))
		case '"':
			s.i++
			return
		case '\n':
			return
		default:
			s.i++
		}
	}
}

// multiline skips a multi-line basic or literal string (three quotes) at s.i, including up
// to two extra closing quotes that belong to the content.
func (s *scanner) multiline(q byte) {
	s.i += 3
	for !s.eof() {
		c := s.src[s.i]
		if c == '\\' && q == '"' {
			s.i = min(s.i+2, len(s.src))
			continue
		}
		if c == q && s.peek(1) == q && s.peek(2) == q {
			s.i += 3
			for n := 0; n < 2 && s.peek(0) == q; n++ {
				s.i++
			}
			return
		}
		s.i++
	}
}

// value skips one value at s.i, recording array elements and inline-table keys under path.
func (s *scanner) value(path string) bool {
	switch c := s.peek(0); {
	case c == '"' && s.peek(1) == '"' && s.peek(2) == '"':
		s.multiline('"')
	case c == '\'' && s.peek(1) == '\'' && s.peek(2) == '\'':
		s.multiline('\'')
	case c == '"':
		s.basicString()
	case c == '\'':
		s.past('\'')
		s.past('\'')
	case c == '[':
		s.i++
		for n := 0; ; n++ {
			s.skip(true)
			if s.eof() {
				return false
			}
			if s.peek(0) == ']' {
				s.i++
				return true
			}
			el := elemPath(path, n)
			s.set(el, s.i, false)
			if !s.value(el) {
				return false
			}
			s.skip(true)
			if s.peek(0) == ',' {
				s.i++
			}
		}
	case c == '{':
		s.i++
		for {
			s.skip(true)
			if s.eof() {
				return false
			}
			if s.peek(0) == '}' {
				s.i++
				return true
			}
			if !s.keyValue(path) {
				return false
			}
			s.skip(true)
			if s.peek(0) == ',' {
				s.i++
			}
		}
	default:
		// Numbers, booleans, dates (which may contain one space): up to a delimiter.
		start := s.i
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.i])) {
			s.i++
		}
		return s.i > start
	}
	return true
}

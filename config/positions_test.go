package config

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const tricky = `# a comment with "quotes" and [brackets]
title = """
[[connection]]
name = "not a key"
"""   # line 2-5 is one string
lit = '''
x = 1 '''
"quoted.key" = 1
'single' = 2
a.b.c = 3
date = 1979-05-27 07:32:00Z
inline = { x = 1, y = { z = [1, 2] } }
multi = {
  p = "#not a comment",
  q = 'also # not'
}
arr = [
  "one", # comment
  [2, 3],
  { k = "v" },
]
[[connection]]
name = "a"
  [[connection.child]]
  name = "c1"
  [[connection.child]]
  name = "c2"
[[connection]]
name = "b"
  [connection.extra]
  k = 1
  [[connection.child]]
  name = "c3"
quote = "a \" b"
`

func TestScanPositions(t *testing.T) {
	if _, err := toml.Decode(tricky, new(map[string]any)); err != nil {
		t.Fatalf("fixture is not valid TOML: %v", err)
	}
	pos := scanPositions(tricky)
	p := func(segs ...string) string {
		path := ""
		for _, s := range segs {
			if n, err := strconv.Atoi(strings.TrimPrefix(s, "#")); err == nil && strings.HasPrefix(s, "#") {
				path = elemPath(path, n)
			} else {
				path = joinPath(path, s)
			}
		}
		return path
	}
	for _, tc := range []struct {
		path string
		line int
	}{
		{p("title"), 2},
		{p("lit"), 6},
		{p("quoted.key"), 8},
		{p("single"), 9},
		{p("a", "b", "c"), 10},
		{p("a"), 10},
		{p("date"), 11},
		{p("inline", "y", "z", "#1"), 12},
		{p("multi"), 13},
		{p("multi", "q"), 15},
		{p("arr", "#0"), 18},
		{p("arr", "#1", "#1"), 19},
		{p("arr", "#2", "k"), 20},
		{p("connection", "#0"), 22},
		{p("connection", "#0", "name"), 23},
		{p("connection", "#0", "child", "#1", "name"), 27},
		{p("connection", "#1"), 28},
		{p("connection", "#1", "name"), 29},
		{p("connection", "#1", "extra", "k"), 31},
		{p("connection", "#1", "child", "#0"), 32},
		{p("connection", "#1", "child", "#0", "name"), 33},
		{p("connection", "#1", "child", "#0", "quote"), 34},
		{p("connection", "#1", "child", "#0", "missing"), 32}, // falls back to the table
		{p("nothing"), 0},
	} {
		if got := pos.line(tc.path); got != tc.line {
			t.Errorf("%q: line %d, want %d", strings.ReplaceAll(tc.path, pathSep, "."), got, tc.line)
		}
	}
	checkKeysIndexed(t, tricky)
}

// checkKeysIndexed requires a line for every key the TOML parser reports.
func checkKeysIndexed(t testing.TB, doc string) {
	md, err := toml.Decode(doc, new(map[string]any))
	if err != nil {
		return
	}
	pos := scanPositions(doc)
	unescape := strings.NewReplacer("\x01\x01", "\x01", "\x010", "\x00")
	have := map[string]bool{}
	for path := range pos.lines {
		var keys []string
		for _, s := range strings.Split(path, pathSep)[1:] {
			switch {
			case strings.HasPrefix(s, "."):
				keys = append(keys, unescape.Replace(s[1:]))
			case !strings.HasPrefix(s, "#"):
				t.Fatalf("path segment %q is neither a key nor an array element", s)
			}
		}
		have[fmt.Sprintf("%q", keys)] = true
	}
	for _, k := range md.Keys() {
		if !have[fmt.Sprintf("%q", []string(k))] {
			t.Errorf("no line for key %q in\n%s", k.String(), doc)
		}
	}
}

// TestLinesOfArrayTables: errors in the 2nd and 3rd [[connection]] point at their own lines
// (BurntSushi/toml's own key positions would all name the last one).
func TestLinesOfArrayTables(t *testing.T) {
	src := ""
	for _, n := range []string{"a", "b", "c"} {
		src += "[[connection]]\nname = \"" + n + "\"\nremote_addr = \"198.51.100.2\"\npsk = \"" + testPSK + "\"\nencap = \"x" + n + "\"\n"
	}
	_, err := Parse("t.toml", []byte(src), "")
	es := asErrors(t, err)
	for i, n := range []string{"a", "b", "c"} {
		if !hasError(es, 5+5*i, `encap = "x`+n+`"`) {
			t.Errorf("missing error at line %d:\n%v", 5+5*i, err)
		}
	}
}

// TestPositionsKeysLikeElements: a quoted key may read like an array element's segment
// ("#0", found by FuzzScanPositions) or hold a NUL through an escape; neither may take the
// line of an element or of another key.
func TestPositionsKeysLikeElements(t *testing.T) {
	doc := "a = [\n  1,\n]\n\"a\\u0000#0\" = 2\n\"#0\" = 3\n[t]\n\"#1\" = 4\n"
	if _, err := toml.Decode(doc, new(map[string]any)); err != nil {
		t.Fatalf("the document is not TOML: %v", err)
	}
	pos := scanPositions(doc)
	for _, tc := range []struct {
		path string
		line int
	}{
		{elemPath(joinPath("", "a"), 0), 2},
		{joinPath("", "a\x00#0"), 4},
		{joinPath("", "#0"), 5},
		{joinPath(joinPath("", "t"), "#1"), 7},
	} {
		if got := pos.line(tc.path); got != tc.line {
			t.Errorf("%q: line %d, want %d", tc.path, got, tc.line)
		}
	}
	checkKeysIndexed(t, doc)
}

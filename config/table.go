package config

// Typed, position-aware access to one decoded TOML table. done() reports each key the schema
// (schema.go) does not list for the table as unknown, at its own line. Type errors never echo
// the value (it may be a secret).

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

type table struct {
	r    *report
	pos  *positions
	m    map[string]any
	path string // position path of this table
	kind string // schema name: "daemon", "connection.child" (see schema.go)
	name string // for messages: "[daemon]", "[[connection]] #2"
}

func newTable(r *report, pos *positions, m map[string]any, path, kind, name string) *table {
	return &table{r: r, pos: pos, m: m, path: path, kind: kind, name: name}
}

// line is the line of the table's header (or its first key when it has no header).
func (t *table) line() int { return t.pos.line(t.path) }

// keyLine is the line of a key, falling back to the table's.
func (t *table) keyLine(key string) int { return t.pos.line(joinPath(t.path, key)) }

// elemLine is the line of the i-th element of an array value.
func (t *table) elemLine(key string, i int) int {
	return t.pos.line(elemPath(joinPath(t.path, key), i))
}

// has reports whether key is present. Every getter goes through it, so it also enforces that
// the loader reads only keys the schema lists.
func (t *table) has(key string) bool {
	if !schemaHas(t.kind, key) {
		t.r.errorf(0, "internal error: the loader reads %q in %s, which the schema does not list", key, t.name)
	}
	if t.r.asked != nil {
		t.r.asked[schemaKind(t.kind, key)] = true
	}
	_, ok := t.m[key]
	return ok
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date/time"
}

func (t *table) typeErr(key, want string) {
	t.r.errorf(t.keyLine(key), "%s must be %s, not %s", key, want, typeName(t.m[key]))
}

// str returns a string key, or def when absent or of the wrong type (reported).
func (t *table) str(key, def string) string {
	if !t.has(key) {
		return def
	}
	s, ok := t.m[key].(string)
	if !ok {
		t.typeErr(key, "a string")
		return def
	}
	return s
}

// optStr is str with presence: ok is false when absent or mistyped.
func (t *table) optStr(key string) (string, bool) {
	if !t.has(key) {
		return "", false
	}
	s, ok := t.m[key].(string)
	if !ok {
		t.typeErr(key, "a string")
	}
	return s, ok
}

func (t *table) boolean(key string, def bool) bool {
	if !t.has(key) {
		return def
	}
	b, ok := t.m[key].(bool)
	if !ok {
		t.typeErr(key, "true or false")
		return def
	}
	return b
}

// integer returns an integer key within [lo, hi], or def (absent, mistyped or out of range,
// the latter two reported with what was expected).
func (t *table) integer(key string, def, lo, hi int64, hint string) int64 {
	if !t.has(key) {
		return def
	}
	n, ok := t.m[key].(int64)
	if !ok {
		t.typeErr(key, "an integer")
		return def
	}
	if n < lo || n > hi {
		if hint == "" {
			hint = fmt.Sprintf("%d..%d", lo, hi)
		}
		t.r.errorf(t.keyLine(key), "%s = %d is out of range; want %s", key, n, hint)
		return def
	}
	return n
}

// float returns a number key (a TOML float, or an integer taken as one), or def when absent
// or mistyped (reported).
func (t *table) float(key string, def float64) float64 {
	if !t.has(key) {
		return def
	}
	switch v := t.m[key].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	t.typeErr(key, "a number")
	return def
}

// enum returns a string key that must be one of values, or def when absent or invalid.
func (t *table) enum(key, def string, values ...string) string {
	s, ok := t.optStr(key)
	if !ok {
		return def
	}
	for _, v := range values {
		if s == v {
			return s
		}
	}
	t.r.errorf(t.keyLine(key), "%s = %q is not valid; want %s", key, s, quoteList(values))
	return def
}

func quoteList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// strList returns an array of strings; present is false when the key is absent. A mistyped
// element is reported at its own line and left out.
func (t *table) strList(key string) (list []string, lines []int, present bool) {
	if !t.has(key) {
		return nil, nil, false
	}
	arr, ok := t.m[key].([]any)
	if !ok {
		t.typeErr(key, `an array of strings like ["…"]`)
		return nil, nil, true
	}
	for i, v := range arr {
		s, ok := v.(string)
		if !ok {
			t.r.errorf(t.elemLine(key, i), "%s[%d] must be a string, not %s", key, i, typeName(v))
			continue
		}
		list = append(list, s)
		lines = append(lines, t.elemLine(key, i))
	}
	return list, lines, true
}

// emptyList reports whether key holds an empty array.
func (t *table) emptyList(key string) bool {
	arr, ok := t.m[key].([]any)
	return ok && len(arr) == 0
}

// duration reads a duration string ("30s", "1h", "0").
func (t *table) duration(key string, def time.Duration) time.Duration {
	if !t.has(key) {
		return def
	}
	s, ok := t.m[key].(string)
	if !ok {
		if n, isInt := t.m[key].(int64); isInt {
			t.r.errorf(t.keyLine(key), "%s must be a duration string like \"%ds\", not an integer", key, n)
		} else {
			t.typeErr(key, `a duration string like "30s" or "1h"`)
		}
		return def
	}
	d, err := parseDuration(s)
	if err != nil {
		t.r.errorf(t.keyLine(key), "%s: %v", key, err)
		return def
	}
	return d
}

// byteSize reads a byte size: an integer, or a string with a unit ("100MB", "4KiB").
func (t *table) byteSize(key string, def, max int64) int64 {
	if !t.has(key) {
		return def
	}
	var n int64
	switch v := t.m[key].(type) {
	case int64:
		if v < 0 {
			t.r.errorf(t.keyLine(key), "%s = %d is negative; want a byte count ≥ 0", key, v)
			return def
		}
		n = v
	case string:
		var err error
		if n, err = parseByteSize(v); err != nil {
			t.r.errorf(t.keyLine(key), "%s: %v", key, err)
			return def
		}
	default:
		t.typeErr(key, `a byte size (an integer, or a string like "100MB" or "4KiB")`)
		return def
	}
	if n > max {
		t.r.errorf(t.keyLine(key), "%s is %d bytes; the maximum is %d", key, n, max)
		return def
	}
	return n
}

// sub returns a sub-table, or nil when absent or mistyped (reported).
func (t *table) sub(key, name string) *table {
	if !t.has(key) {
		return nil
	}
	m, ok := t.m[key].(map[string]any)
	if !ok {
		t.typeErr(key, "a table ["+key+"]")
		return nil
	}
	return newTable(t.r, t.pos, m, joinPath(t.path, key), schemaKind(t.kind, key), name)
}

// tables returns an array of tables ([[key]] or key = [{…}, …]).
func (t *table) tables(key string, name func(i int) string) []*table {
	if !t.has(key) {
		return nil
	}
	p := joinPath(t.path, key)
	var out []*table
	switch v := t.m[key].(type) {
	case []map[string]any:
		for i, m := range v {
			out = append(out, newTable(t.r, t.pos, m, elemPath(p, i), schemaKind(t.kind, key), name(i)))
		}
	case []any:
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				t.r.errorf(t.elemLine(key, i), "%s[%d] must be a table, not %s", key, i, typeName(e))
				continue
			}
			out = append(out, newTable(t.r, t.pos, m, elemPath(p, i), schemaKind(t.kind, key), name(i)))
		}
	default:
		t.typeErr(key, "an array of tables [["+key+"]]")
	}
	return out
}

// done reports every key of the table that the schema does not list.
func (t *table) done() {
	var unknown []string
	for k := range t.m {
		if !schemaHas(t.kind, k) {
			unknown = append(unknown, k)
		}
	}
	known := schemaNames(t.kind)
	sort.Strings(known)
	sort.Slice(unknown, func(i, j int) bool { return t.keyLine(unknown[i]) < t.keyLine(unknown[j]) })
	for _, k := range unknown {
		msg := fmt.Sprintf("unknown key %q in %s", k, t.name)
		if s := suggest(k, known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		t.r.errorf(t.keyLine(k), "%s", msg)
	}
}

// suggest returns the known key closest to k by edit distance, if it is close.
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

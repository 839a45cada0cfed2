package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The drift test: config/README.md, the reference users read, documents exactly the keys the
// loader accepts (schema.go), table by table.

var (
	// A heading naming tables: "## `[daemon]`", "### `[[netstack.forward]]` and `[[netstack.expose]]`".
	referenceHeading = regexp.MustCompile(`^#{1,6} `)
	referenceTable   = regexp.MustCompile("`\\[\\[?([a-z_.]+)\\]\\]?`")
	// A key row: "| `log_level` | string | …".
	referenceRow = regexp.MustCompile("^\\|\\s*`([a-z0-9_]+)`\\s*\\|")
)

// referenceKeys returns, per table, the keys a reference document lists: each heading that
// names tables in backticks starts their section, and each table row of that section whose
// first cell is a backticked key documents that key for every table the heading names. Other
// headings end the section.
func referenceKeys(doc string) map[string][]string {
	out := map[string][]string{}
	var tables []string
	for _, line := range strings.Split(doc, "\n") {
		if referenceHeading.MatchString(line) {
			tables = nil
			for _, m := range referenceTable.FindAllStringSubmatch(line, -1) {
				tables = append(tables, m[1])
				if out[m[1]] == nil {
					out[m[1]] = []string{}
				}
			}
			continue
		}
		if m := referenceRow.FindStringSubmatch(line); m != nil {
			for _, tb := range tables {
				out[tb] = append(out[tb], m[1])
			}
		}
	}
	return out
}

// referenceDrift compares documented keys with a schema and describes every difference.
func referenceDrift(doc map[string][]string, sch map[string]tableSchema) []string {
	var problems []string
	name := func(kind string) string {
		if kind == "" {
			return "the top level"
		}
		return "[" + kind + "]"
	}
	for kind, s := range sch {
		if kind == "" {
			continue // the top level has only tables, each documented in its own section
		}
		documented, ok := doc[kind]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has no section in the reference", name(kind)))
			continue
		}
		for _, k := range s.keys {
			if !slices.Contains(documented, k) {
				problems = append(problems, fmt.Sprintf("%s %s is accepted by the loader but not documented", name(kind), k))
			}
		}
		seen := map[string]bool{}
		for _, k := range documented {
			switch {
			case seen[k]:
				problems = append(problems, fmt.Sprintf("%s %s is documented twice", name(kind), k))
			case !slices.Contains(s.keys, k):
				problems = append(problems, fmt.Sprintf("%s %s is documented but the loader does not accept it", name(kind), k))
			}
			seen[k] = true
		}
	}
	for kind := range doc {
		if _, ok := sch[kind]; !ok {
			problems = append(problems, fmt.Sprintf("the reference documents a table %s the loader does not have", name(kind)))
		}
	}
	sort.Strings(problems)
	return problems
}

func readReference(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReferenceMatchesLoader: every key the loader accepts is documented in README.md, in the
// section of its table, and every documented key is accepted.
func TestReferenceMatchesLoader(t *testing.T) {
	doc := referenceKeys(readReference(t))
	for _, p := range referenceDrift(doc, schema) {
		t.Error(p)
	}
	// The parse found real sections, not an empty document.
	if len(doc["connection"]) < 30 || len(doc["daemon"]) < 10 {
		t.Errorf("the reference parsed into %d connection and %d daemon keys", len(doc["connection"]), len(doc["daemon"]))
	}
}

// TestReferenceDriftDetected is the negative control: a reference that lost a key, one that
// documents a key the loader lacks, and one without a table's section all fail, naming what
// is wrong; so does a schema that grew a key.
func TestReferenceDriftDetected(t *testing.T) {
	ref := readReference(t)
	for _, tc := range []struct {
		name string
		doc  string
		sch  map[string]tableSchema
		want string
	}{
		{"doc lost a key", strings.Replace(ref, "| `retransmit_tries` |", "| retransmit_tries |", 1), schema,
			"[daemon] retransmit_tries is accepted by the loader but not documented"},
		{"doc lost a child key", strings.Replace(ref, "| `life_packets` |", "| life packets |", 1), schema,
			"[connection.child] life_packets is accepted by the loader but not documented"},
		{"doc has an extra key", strings.Replace(ref, "| `addrs` |", "| `addrs` | x |\n| `range` |", 1), schema,
			"[pool] range is documented but the loader does not accept it"},
		{"doc lost a section", strings.Replace(ref, "## `[[user]]`", "## Users", 1), schema,
			"[user] has no section in the reference"},
		{"doc has a strange table", ref + "\n## `[[peer]]`\n| `x` | y |\n", schema,
			"the reference documents a table [peer] the loader does not have"},
		{"schema grew a key", ref, withExtraKey(schema, "connection", "leftfirewall"),
			"[connection] leftfirewall is accepted by the loader but not documented"},
	} {
		problems := referenceDrift(referenceKeys(tc.doc), tc.sch)
		if !slices.Contains(problems, tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.name, problems, tc.want)
		}
		if len(problems) != 1 {
			t.Errorf("%s: %d problems, want 1: %q", tc.name, len(problems), problems)
		}
	}
}

func withExtraKey(sch map[string]tableSchema, kind, key string) map[string]tableSchema {
	out := map[string]tableSchema{}
	for k, v := range sch {
		out[k] = v
	}
	s := out[kind]
	s.keys = append(slices.Clone(s.keys), key)
	out[kind] = s
	return out
}

// TestSchemaIsWhatTheLoaderReads: loading the full example asks for every key the schema lists
// (so no listed key is silently ignored), and a getter asking for a key the schema lacks is
// reported (the negative control of the guard in table.has).
func TestSchemaIsWhatTheLoaderReads(t *testing.T) {
	path := writeFullExample(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]bool{}
	if _, _, err := parseRecording(path, data, filepath.Dir(path), nil, asked); err != nil {
		t.Fatal(err)
	}
	for kind, s := range schema {
		for _, k := range append(slices.Clone(s.keys), s.tables...) {
			if !asked[schemaKind(kind, k)] {
				t.Errorf("the schema lists %q in [%s], but the loader never reads it", k, kind)
			}
		}
	}

	r := &report{file: "x.toml"}
	tb := newTable(r, &positions{lines: map[string]int{}}, map[string]any{}, "daemon", "daemon", "[daemon]")
	tb.str("colour", "")
	if len(r.errs) != 1 || !strings.Contains(r.errs[0].Msg, `internal error: the loader reads "colour" in [daemon], which the schema does not list`) {
		t.Errorf("unlisted key: %v", r.errs)
	}
}

// TestReferenceIKEOnlyMarks: in the [[connection]] section, the rows whose description ends in
// ". IKE" are exactly the keys keying = "manual" ignores (ikeOnlyKeys).
func TestReferenceIKEOnlyMarks(t *testing.T) {
	marked := ikeMarkedKeys(readReference(t))
	got, want := slices.Sorted(slices.Values(marked)), slices.Sorted(slices.Values(ikeOnlyKeys))
	if !slices.Equal(got, want) {
		t.Errorf("marked IKE in the reference: %v\nignored by manual keying: %v", got, want)
	}
	// Negative control: dropping one mark is noticed.
	if doc := strings.Replace(readReference(t), "RFC 3706); `\"0\"` = off. IKE |", "RFC 3706); `\"0\"` = off. |", 1); slices.Contains(ikeMarkedKeys(doc), "dpd_delay") {
		t.Errorf("a removed IKE mark on dpd_delay went unnoticed")
	}
}

// ikeMarkedKeys returns the [[connection]] keys whose row ends in ". IKE |".
func ikeMarkedKeys(doc string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if referenceHeading.MatchString(line) {
			in = strings.Contains(line, "`[[connection]]`")
			continue
		}
		if m := referenceRow.FindStringSubmatch(line); in && m != nil && strings.HasSuffix(strings.TrimSpace(line), ". IKE |") {
			out = append(out, m[1])
		}
	}
	return out
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The drift test of docs/status.md: the fields it documents, with their types and presence,
// are exactly those of the status types (both directions), and the JSON a daemon produces has
// only documented fields, of the documented types, with every "always" field present.

const statusDoc = "../../docs/status.md"

type docField struct{ typ, present string }

var (
	docHeading = regexp.MustCompile("^### `([a-z_]+)`")
	docRow     = regexp.MustCompile("^\\|\\s*`([a-z_0-9]+)`\\s*\\|\\s*([^|]+?)\\s*\\|\\s*(always|if set)\\s*\\|")
)

// readStatusDoc returns the documented fields by object.
func readStatusDoc(t *testing.T) map[string]map[string]docField {
	t.Helper()
	b, err := os.ReadFile(statusDoc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]docField{}
	obj := ""
	for _, line := range strings.Split(string(b), "\n") {
		if m := docHeading.FindStringSubmatch(line); m != nil {
			obj = m[1]
			out[obj] = map[string]docField{}
			continue
		}
		if m := docRow.FindStringSubmatch(line); m != nil && obj != "" {
			if _, dup := out[obj][m[1]]; dup {
				t.Errorf("docs/status.md: %s.%s documented twice", obj, m[1])
			}
			out[obj][m[1]] = docField{typ: strings.ReplaceAll(m[2], "`", ""), present: m[3]}
		}
	}
	return out
}

// statusObjects names the JSON objects of the status types.
var statusObjects = map[reflect.Type]string{
	reflect.TypeFor[statusReport](): "status", reflect.TypeFor[deviceStatus](): "device",
	reflect.TypeFor[connStatus](): "connection", reflect.TypeFor[ikeSAStatus](): "ike_sa",
	reflect.TypeFor[childStatus](): "child", reflect.TypeFor[saStatus](): "sa",
	reflect.TypeFor[runtimeStatus](): "runtime", reflect.TypeFor[peerCertStatus](): "peer_cert",
	reflect.TypeFor[clientStatus](): "client",
}

// schemaType writes a Go type in the document's words.
func schemaType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return schemaType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Slice:
		return "array of " + schemaType(t.Elem())
	case reflect.Map:
		return "map of " + schemaType(t.Elem())
	case reflect.Struct:
		if name, ok := statusObjects[t]; ok {
			return "object " + name
		}
	}
	return "unknown " + t.String()
}

// codeFields returns the fields of the status types by object, from their JSON tags.
func codeFields() map[string]map[string]docField {
	out := map[string]map[string]docField{}
	for typ, obj := range statusObjects {
		out[obj] = map[string]docField{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			present := "always"
			if strings.Contains(opts, "omitempty") {
				present = "if set"
			}
			typName := schemaType(f.Type)
			if el := f.Type; el.Kind() == reflect.Slice && el.Elem().Kind() == reflect.Struct {
				typName = "array of " + statusObjects[el.Elem()]
			}
			out[obj][name] = docField{typ: typName, present: present}
		}
	}
	return out
}

func TestStatusSchemaDocumented(t *testing.T) {
	doc, code := readStatusDoc(t), codeFields()
	for obj, fields := range code {
		dfields, ok := doc[obj]
		if !ok {
			t.Errorf("docs/status.md has no section for object %s", obj)
			continue
		}
		for name, f := range fields {
			d, ok := dfields[name]
			switch {
			case !ok:
				t.Errorf("%s.%s (%s) is produced but not documented", obj, name, f.typ)
			case d != f:
				t.Errorf("%s.%s is documented as %s, %s; the code has %s, %s", obj, name, d.typ, d.present, f.typ, f.present)
			}
		}
		for name := range dfields {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s.%s is documented but not produced", obj, name)
			}
		}
	}
	for obj := range doc {
		if _, ok := code[obj]; !ok {
			t.Errorf("docs/status.md documents an object %s the code does not have", obj)
		}
	}
	if statusSchema != 1 || !strings.Contains(mustRead(t, statusDoc), "schema 1") {
		t.Errorf("schema %d; the document's title must name it", statusSchema)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkStatusJSON checks JSON produced by `oakley status --json` against the document.
func checkStatusJSON(t *testing.T, raw []byte) {
	t.Helper()
	doc := readStatusDoc(t)
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v["schema"] != float64(statusSchema) {
		t.Errorf("schema = %v, want %d", v["schema"], statusSchema)
	}
	for _, p := range jsonSchemaProblems(doc, "status", v, "") {
		t.Error(p)
	}
}

// jsonSchemaProblems describes how the object v of kind obj differs from the document.
func jsonSchemaProblems(doc map[string]map[string]docField, obj string, v map[string]any, path string) []string {
	var out []string
	fields := doc[obj]
	for name, f := range fields {
		if _, ok := v[name]; !ok && f.present == "always" {
			out = append(out, fmt.Sprintf("%s.%s is documented as always present but missing", path+obj, name))
		}
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, name := range keys {
		f, ok := fields[name]
		if !ok {
			out = append(out, fmt.Sprintf("%s.%s is produced but not documented", path+obj, name))
			continue
		}
		out = append(out, jsonValueProblems(doc, f.typ, v[name], fmt.Sprintf("%s%s.%s", path, obj, name))...)
	}
	return out
}

func jsonValueProblems(doc map[string]map[string]docField, typ string, val any, where string) []string {
	bad := func() []string { return []string{fmt.Sprintf("%s = %v (%T) is not a %s", where, val, val, typ)} }
	switch {
	case typ == "string":
		if _, ok := val.(string); !ok {
			return bad()
		}
	case typ == "boolean":
		if _, ok := val.(bool); !ok {
			return bad()
		}
	case typ == "integer":
		if f, ok := val.(float64); !ok || f != float64(int64(f)) || f < 0 {
			return bad()
		}
	case strings.HasPrefix(typ, "object "):
		m, ok := val.(map[string]any)
		if !ok {
			return bad()
		}
		return jsonSchemaProblems(doc, strings.TrimPrefix(typ, "object "), m, where+"/")
	case strings.HasPrefix(typ, "array of "):
		a, ok := val.([]any)
		if !ok {
			return bad()
		}
		var out []string
		elem := strings.TrimPrefix(typ, "array of ")
		if _, isObj := doc[elem]; isObj {
			elem = "object " + elem
		}
		for i, x := range a {
			out = append(out, jsonValueProblems(doc, elem, x, fmt.Sprintf("%s[%d]", where, i))...)
		}
		return out
	case strings.HasPrefix(typ, "map of "):
		m, ok := val.(map[string]any)
		if !ok {
			return bad()
		}
		var out []string
		for k, x := range m {
			out = append(out, jsonValueProblems(doc, strings.TrimPrefix(typ, "map of "), x, where+"."+k)...)
		}
		return out
	default:
		return []string{fmt.Sprintf("%s: the document's type %q is unknown", where, typ)}
	}
	return nil
}

// TestStatusJSONMatchesDocument: the JSON of a running (netstack, manual) daemon and of the
// fixture (IKE SAs, a down connection) follows the document; and the check can fail: a
// field renamed, an undocumented field and a wrong type are each reported.
func TestStatusJSONMatchesDocument(t *testing.T) {
	s := startReloadSite(t, manualConn("keep", 1, 0x1000, 0x11, "udp"))
	raw, err := json.Marshal(s.d.status())
	if err != nil {
		t.Fatal(err)
	}
	checkStatusJSON(t, raw)
	fx := metricsFixture().status
	fx.Started, fx.Uptime = "2026-01-02T15:04:05Z", "1s"
	raw, _ = json.Marshal(fx)
	checkStatusJSON(t, raw)

	doc := readStatusDoc(t)
	for what, mutate := range map[string]func(m map[string]any){
		"a renamed field":     func(m map[string]any) { m["uptime_s"] = m["uptime"]; delete(m, "uptime") },
		"an undocumented one": func(m map[string]any) { m["connections"].([]any)[0].(map[string]any)["secret"] = "x" },
		"a string for an int": func(m map[string]any) { m["device"].(map[string]any)["mtu"] = "1400" },
		"a negative counter":  func(m map[string]any) { m["counters"].(map[string]any)["x"] = -1.0 },
	} {
		var m map[string]any
		json.Unmarshal(raw, &m)
		mutate(m)
		if len(jsonSchemaProblems(doc, "status", m, "")) == 0 {
			t.Errorf("the JSON check missed %s", what)
		}
	}
}

package swanimport

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// mapFS is an in-memory FS: file name → content.
type mapFS map[string]string

func (m mapFS) ReadFile(name string) ([]byte, error) {
	if s, ok := m[filepath.Clean(name)]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (m mapFS) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for name := range m {
		if ok, _ := path.Match(filepath.Clean(pattern), name); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// importFile converts a file of testdata through the OS file system.
func importFile(t *testing.T, p string, opts Options) *Result {
	t.Helper()
	res, err := Import(p, opts)
	if err != nil {
		t.Fatalf("Import(%s): %v", p, err)
	}
	return res
}

// fromRefs returns every FILE:LINE the output names: in "# from F:1,3-5 G:2" comments and
// in notes that start with "# F:N:".
func fromRefs(toml string) map[Pos]bool {
	refs := map[Pos]bool{}
	fromRe := regexp.MustCompile(`# from ([^;]+)`)
	noteRe := regexp.MustCompile(`^\s*# (\S+):(\d+): `)
	for _, l := range strings.Split(toml, "\n") {
		if m := noteRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[2])
			refs[Pos{File: m[1], Line: n}] = true
		}
		m := fromRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		for _, group := range strings.Fields(m[1]) {
			i := strings.LastIndexByte(group, ':')
			if i < 0 {
				continue
			}
			file := group[:i]
			for _, r := range strings.Split(group[i+1:], ",") {
				lo, hi, isRange := strings.Cut(r, "-")
				a, _ := strconv.Atoi(lo)
				b := a
				if isRange {
					b, _ = strconv.Atoi(hi)
				}
				for n := a; n <= b; n++ {
					refs[Pos{File: file, Line: n}] = true
				}
			}
		}
	}
	return refs
}

var (
	settingLine = regexp.MustCompile(`^\s*[A-Za-z0-9_.%-]+\s*=`)
	secretLine  = regexp.MustCompile(`\s:\s|^:\s`)
)

// settingLines returns the lines of a strongSwan file that set something, read from the raw
// text (independently of the parser): "key = value" lines, and for ipsec.secrets the
// entries; a version line of ipsec.conf too.
func settingLines(t *testing.T, file string) []Pos {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []Pos
	for i, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		switch {
		case strings.HasSuffix(file, ".secrets"):
			if secretLine.MatchString(l) || strings.HasPrefix(trimmed, "include") {
				out = append(out, Pos{File: file, Line: i + 1})
			}
		case settingLine.MatchString(l), strings.HasPrefix(trimmed, "version "), strings.HasPrefix(trimmed, "include "):
			out = append(out, Pos{File: file, Line: i + 1})
		}
	}
	return out
}

// unaccounted returns the setting lines that appear neither in the output's references nor
// at a warning.
func unaccounted(lines []Pos, toml string, warnings []Diag) []Pos {
	refs := fromRefs(toml)
	for _, w := range warnings {
		refs[w.Pos] = true
	}
	var out []Pos
	for _, p := range lines {
		if !refs[p] {
			out = append(out, p)
		}
	}
	return out
}

// errorsOf returns the Errors in err, failing the test for any other error.
func errorsOf(t *testing.T, err error) Errors {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not Errors", err)
	}
	return errs
}

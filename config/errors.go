package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration file, at the line of the offending key (or of the
// table header when a required key is missing). Col is set only for TOML syntax errors, where
// the parser knows the column. Line 0 means the problem concerns the whole file (it could not
// be read). Msg never contains a secret.
//
// An Error is immutable once returned and safe for concurrent use.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error formats the problem as "file:line: message" ("file:line:col: message" for syntax
// errors), the shape `oakley check` prints and editors jump to.
func (e *Error) Error() string { return position(e.File, e.Line, e.Col) + e.Msg }

// Errors is every problem found in one file, sorted by line. Load and Parse return it (as an
// error) whenever the configuration is unusable.
//
// Errors is immutable once returned and safe for concurrent use.
type Errors []*Error

// Error prints one problem per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Warning is a problem that does not stop the daemon but that an operator should see: an
// insecure algorithm allowed by insecure_algorithms, a weak PSK, a discouraged combination.
// It has the same file:line shape as Error and, like it, never contains a secret.
//
// A Warning is immutable once returned and safe for concurrent use.
type Warning struct {
	File string
	Line int
	Msg  string
}

// String formats the warning as "file:line: warning: message".
func (w Warning) String() string { return position(w.File, w.Line, 0) + "warning: " + w.Msg }

func position(file string, line, col int) string {
	switch {
	case line <= 0:
		return file + ": "
	case col <= 0:
		return fmt.Sprintf("%s:%d: ", file, line)
	default:
		return fmt.Sprintf("%s:%d:%d: ", file, line, col)
	}
}

// report collects errors and warnings while a file is checked.
type report struct {
	file     string
	errs     Errors
	warnings []Warning
	asked    map[string]bool // schemaKind(table, key) of every key a getter asked for
}

func (r *report) errorf(line int, format string, args ...any) {
	r.errs = append(r.errs, &Error{File: r.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (r *report) warnf(line int, format string, args ...any) {
	r.warnings = append(r.warnings, Warning{File: r.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// sorted orders errors and warnings by line, keeping discovery order within a line.
func (r *report) sort() {
	sort.SliceStable(r.errs, func(i, j int) bool { return r.errs[i].Line < r.errs[j].Line })
	sort.SliceStable(r.warnings, func(i, j int) bool { return r.warnings[i].Line < r.warnings[j].Line })
}

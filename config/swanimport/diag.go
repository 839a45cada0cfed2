package swanimport

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in a strongSwan file: the file name as the user knows it (the name given on
// the command line, or an included file joined to its directory) and a 1-based line. Line 0
// means the whole file. Pos is a comparable value type, safe for concurrent use.
type Pos struct {
	File string
	Line int
}

// String formats the position as "file:line" (or "file" for line 0).
func (p Pos) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Severity says whether a Diag stops the conversion.
type Severity uint8

const (
	// Warning: something in the input has no oakley equivalent, or was converted with a
	// change of meaning the user must review. The conversion goes on.
	Warning Severity = iota + 1
	// Error: the input cannot be read or parsed.
	Error
)

// Diag is one message about the input, at the line it concerns. Messages never contain a
// secret (a PSK, a password). Diag is immutable once returned and safe for concurrent use.
type Diag struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

// String formats the message as "FILE:LINE: warning: ..." or "FILE:LINE: error: ...".
func (d Diag) String() string {
	kind := "warning"
	if d.Severity == Error {
		kind = "error"
	}
	return d.Pos.String() + ": " + kind + ": " + d.Msg
}

// Errors is returned by the parsers and Import when the input is unusable: every error
// found, in the order met. It is immutable once returned and safe for concurrent use.
type Errors []Diag

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.String())
	}
	return b.String()
}

// ErrNothingConverted is returned (wrapped in the error of Import) when the input parsed but
// held nothing oakley could use.
var ErrNothingConverted = errors.New("swanimport: nothing could be converted")

// diags collects messages while files are parsed and converted. It is not safe for
// concurrent use.
type diags struct {
	list   []Diag
	seen   map[string]bool
	notes  []string // "FILE:LINE: text" lines for the output's header (includes followed)
	warned map[Pos]bool
}

func (d *diags) notef(p Pos, format string, args ...any) {
	d.notes = append(d.notes, p.String()+": "+fmt.Sprintf(format, args...))
}

func (d *diags) warnf(p Pos, format string, args ...any) {
	d.add(Diag{Pos: p, Severity: Warning, Msg: fmt.Sprintf(format, args...)})
}

func (d *diags) errorf(p Pos, format string, args ...any) {
	d.add(Diag{Pos: p, Severity: Error, Msg: fmt.Sprintf(format, args...)})
}

// add keeps one copy of each identical message (a %default key read by several connections
// is reported once).
func (d *diags) add(x Diag) {
	x.Msg = oneLine(x.Msg)
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	k := x.String()
	if d.seen[k] {
		return
	}
	d.seen[k] = true
	d.list = append(d.list, x)
	if x.Severity == Warning {
		if d.warned == nil {
			d.warned = map[Pos]bool{}
		}
		d.warned[x.Pos] = true
	}
}

func (d *diags) errors() Errors {
	var out Errors
	for _, x := range d.list {
		if x.Severity == Error {
			out = append(out, x)
		}
	}
	return out
}

func (d *diags) warnings() []Diag {
	var out []Diag
	for _, x := range d.list {
		if x.Severity == Warning {
			out = append(out, x)
		}
	}
	return out
}

// oneLine keeps a message (or an output comment) on one line: values quoted in it may hold
// newlines and other control characters.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return '?'
		}
		return r
	}, s)
}

// sorted returns the messages ordered by file (in order of first appearance) and line.
func sortDiags(list []Diag) []Diag {
	order := map[string]int{}
	for _, x := range list {
		if _, ok := order[x.Pos.File]; !ok {
			order[x.Pos.File] = len(order)
		}
	}
	out := append([]Diag(nil), list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return order[a.File] < order[b.File]
		}
		return a.Line < b.Line
	})
	return out
}

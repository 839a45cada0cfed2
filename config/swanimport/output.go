package swanimport

// The TOML that Import writes: oakley's tables (CONFIG.md) in CONFIG.md's key order, every
// converted value followed by "# from FILE:LINE" naming the strongSwan lines it came from.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Key orders of the tables, as CONFIG.md lists them.
var (
	connectionKeys = []string{"name", "keying", "version", "aggressive", "local_addr", "remote_addr",
		"local_id", "remote_id", "auth", "psk", "psk_file", "cert", "key", "cacerts", "remote_cert", "crls",
		"send_cert", "fragmentation", "vips", "pools", "xauth", "xauth_id", "eap", "eap_id", "password_file",
		"proposals", "rekey_time", "dpd_delay", "dpd_timeout", "dpd_action", "start_action", "encap", "mobike",
		"remote_port", "remote_natt_port"}
	childKeys = []string{"name", "local_ts", "remote_ts", "mode", "esp_proposals", "ah_proposals",
		"rekey_time", "life_bytes", "life_packets", "replay_window", "start_action"}
	daemonKeys = []string{"log_level", "log_format", "control_socket", "metrics", "ike_port", "natt_port",
		"udp_offload", "socket_buffer", "workers", "insecure_algorithms", "user"}
	deviceKeys = []string{"kind", "name", "mtu", "addresses", "routes", "offload"}
	poolKeys   = []string{"name", "addrs", "dns", "split"}
	userKeys   = []string{"name", "password_file"}
)

// block is one TOML table of the output with its values and their origins. Not safe for
// concurrent use.
type block struct {
	header   string
	indent   string
	order    []string
	vals     map[string]*entry
	notes    []string // comment lines under the header
	children []*block
}

type entry struct {
	lit   string   // the TOML literal
	raw   string   // the string, for values set by setStr
	items []string // the strings, for values set by setList
	from  []Pos
	note  string
}

func newBlock(header, indent string, order []string) *block {
	return &block{header: header, indent: indent, order: order, vals: map[string]*entry{}}
}

// set stores key = lit (a TOML literal) with its origins, replacing an earlier value.
func (b *block) set(key, lit string, from ...Pos) *entry {
	e := &entry{lit: lit, from: dedupPos(from)}
	b.vals[key] = e
	return e
}

func (b *block) setStr(key, s string, from ...Pos) *entry {
	e := b.set(key, tomlString(s), from...)
	e.raw = s
	return e
}

func (b *block) setList(key string, items []string, from ...Pos) *entry {
	e := b.set(key, tomlList(items), from...)
	e.items = append([]string(nil), items...)
	return e
}

// appendList adds one string to a list value.
func (b *block) appendList(key, item string, pos Pos) {
	var items []string
	var from []Pos
	if e := b.get(key); e != nil {
		items, from = e.items, e.from
	}
	b.setList(key, append(append([]string(nil), items...), item), append(append([]Pos(nil), from...), pos)...)
}

func (b *block) get(key string) *entry { return b.vals[key] }

func (b *block) del(key string) { delete(b.vals, key) }

func (b *block) notef(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// fromList writes positions compactly, one group per file: "a.conf:3,7-9 b.conf:2".
func fromList(ps []Pos) string {
	var files []string
	lines := map[string][]int{}
	for _, p := range ps {
		if _, ok := lines[p.File]; !ok {
			files = append(files, p.File)
		}
		if p.Line > 0 {
			lines[p.File] = append(lines[p.File], p.Line)
		}
	}
	var out []string
	for _, f := range files {
		ls := lines[f]
		sort.Ints(ls)
		var parts []string
		for i := 0; i < len(ls); {
			j := i
			for j+1 < len(ls) && ls[j+1] <= ls[j]+1 {
				j++
			}
			if ls[j] == ls[i] {
				parts = append(parts, strconv.Itoa(ls[i]))
			} else {
				parts = append(parts, strconv.Itoa(ls[i])+"-"+strconv.Itoa(ls[j]))
			}
			i = j + 1
		}
		if len(parts) == 0 {
			out = append(out, f)
			continue
		}
		out = append(out, f+":"+strings.Join(parts, ","))
	}
	return strings.Join(out, " ")
}

func dedupPos(ps []Pos) []Pos {
	var out []Pos
	for _, p := range ps {
		if p.File == "" {
			continue
		}
		dup := false
		for _, q := range out {
			dup = dup || q == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out
}

func (b *block) write(w *strings.Builder) {
	fmt.Fprintf(w, "\n%s%s\n", b.indent, b.header)
	for _, n := range b.notes {
		fmt.Fprintf(w, "%s# %s\n", b.indent, oneLine(n))
	}
	for _, k := range b.order {
		e := b.vals[k]
		if e == nil {
			continue
		}
		line := b.indent + k + " = " + e.lit
		var c []string
		if len(e.from) > 0 {
			c = append(c, "from "+fromList(e.from))
		}
		if e.note != "" {
			c = append(c, e.note)
		}
		if len(c) > 0 {
			line += "  # " + oneLine(strings.Join(c, "; "))
		}
		w.WriteString(line + "\n")
	}
	for _, ch := range b.children {
		ch.write(w)
	}
}

// document is the whole output.
type document struct {
	header []string
	daemon *block
	device *block
	conns  []*block
	pools  []*block
	users  []*block
}

func newDocument() *document {
	return &document{
		daemon: newBlock("[daemon]", "", daemonKeys),
		device: newBlock("[device]", "", deviceKeys),
	}
}

func (d *document) render() []byte {
	var w strings.Builder
	for _, h := range d.header {
		fmt.Fprintf(&w, "# %s\n", oneLine(h))
	}
	d.daemon.write(&w)
	d.device.write(&w)
	for _, list := range [][]*block{d.conns, d.pools, d.users} {
		for _, b := range list {
			b.write(&w)
		}
	}
	return []byte(w.String())
}

// tomlString quotes s as a TOML basic string (TOML 1.0 §String): '"', '\' and control
// characters escaped, valid UTF-8 kept, invalid bytes replaced by U+FFFD.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = tomlString(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func tomlInt(n int64) string { return strconv.FormatInt(n, 10) }

func tomlBool(v bool) string { return strconv.FormatBool(v) }

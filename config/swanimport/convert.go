package swanimport

// State and steps both converters share: connection and file names, secret files, the
// start_action and encapsulation rules that tie children to their connection, and the
// [daemon] / [device] tables.

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// SecretFile is a file Import asks to be written beside the TOML with mode 0600: a PSK or a
// password, in strongSwan's secret syntax (text, 0x hex or 0s base64), which oakley reads the
// same way. Data is secret: write it, then wipe it; never print it.
type SecretFile struct {
	Name string // a base name; the TOML refers to it through Options.SecretsRef
	Data []byte
	For  string // what it holds, for messages ("the PSK of connection site-b")
}

// converter carries one conversion. Not safe for concurrent use.
type converter struct {
	d         *diags
	doc       *document
	opts      Options
	fs        FS
	baseDir   string // directory of the main input file
	files     []SecretFile
	fileNames map[string]bool
	connNames map[string]bool
	insecure  []string
	insecPos  []Pos
	conns     []*connOut
	poolNames map[string]bool
	userNames map[string]bool
	libreswan bool // an ipsec.conf with libreswan's keys (exact proposals, other names)
}

// connOut is a connection being written.
type connOut struct {
	b          *block
	name       string
	pos        Pos
	version    int
	aggressive bool
	localIP    netip.Addr
	remoteIP   netip.Addr
	localID    string // strongSwan's effective identities, for matching secrets
	remoteID   string
	auth       string // oakley's auth
	needPSK    bool
	pskFrom    Pos
	clientUser string // XAUTH / EAP user name of a client, for its password
	clientFrom Pos
	children   []*childOut
	ah         bool
	encapFrom  Pos
	encapForce bool
}

type childOut struct {
	b        *block
	name     string
	start    string
	startPos Pos
}

func newConverter(opts Options, fsys FS, main string, d *diags) *converter {
	return &converter{d: d, doc: newDocument(), opts: opts, fs: fsys, baseDir: filepath.Dir(main),
		fileNames: map[string]bool{}, connNames: map[string]bool{}, poolNames: map[string]bool{},
		userNames: map[string]bool{}}
}

// oakleyName turns a strongSwan section name into a valid, unused oakley name (CONFIG.md:
// 1..64 letters, digits, '-', '_', '.').
func oakleyName(name string, used map[string]bool) (string, bool) {
	var b strings.Builder
	for _, r := range name {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" {
		out = "conn"
	}
	if len(out) > 60 {
		out = out[:60]
	}
	base := out
	for i := 2; used[out]; i++ {
		out = fmt.Sprintf("%s-%d", base, i)
	}
	used[out] = true
	return out, out == name
}

// secretFileName returns an unused file name for a secret: base + ext, made safe.
func (c *converter) secretFileName(base, ext string) string {
	var b strings.Builder
	for _, r := range base {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.' || r == '@') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := strings.TrimLeft(b.String(), ".")
	if name == "" {
		name = "secret"
	}
	if len(name) > 60 {
		name = name[:60]
	}
	out := name + ext
	for i := 2; c.fileNames[out]; i++ {
		out = fmt.Sprintf("%s-%d%s", name, i, ext)
	}
	c.fileNames[out] = true
	return out
}

// addSecret queues a secret file and returns how the TOML names it.
func (c *converter) addSecret(name, secret, what string) string {
	c.files = append(c.files, SecretFile{Name: name, Data: secretFileData(secret), For: what})
	if c.opts.SecretsRef != nil {
		return c.opts.SecretsRef(name)
	}
	return name
}

// secretFileData writes a secret so that oakley reads it back unchanged: oakley strips
// trailing blanks and newlines from a secret file, so a secret that ends (or starts) with a
// blank, or holds a newline, is written as 0x hex, which both strongSwan and oakley decode.
func secretFileData(s string) []byte {
	if s != strings.TrimSpace(s) || strings.ContainsAny(s, "\r\n") {
		return []byte("0x" + hex.EncodeToString([]byte(s)) + "\n")
	}
	return []byte(s + "\n")
}

// normID is an identity as strongSwan compares it: "@name", "fqdn:name" and "name" are the
// same FQDN, "email:u@d" and "u@d" the same user FQDN.
func normID(s string) string {
	t := strings.TrimSpace(s)
	if out, problem := convertID(t); problem == "" {
		t = out
	}
	return strings.TrimPrefix(t, "@")
}

// secretCand is one PSK or password with the identities it belongs to.
type secretCand struct {
	ids   []string
	value string
	pos   Pos   // the secret's line
	from  []Pos // every line it comes from (section, ids, secret)
	used  *bool
}

// bestSecret picks the secret for a pair of identities the way strongSwan ranks shared keys:
// one whose identities name both ends beats one that names the peer, which beats one that
// names us, which beats one without identities; %any matches anything. Ties go to the first.
func bestSecret(cands []secretCand, local, remote string) *secretCand {
	var best *secretCand
	bestScore := 0
	for i := range cands {
		s := &cands[i]
		score := 1
		if len(s.ids) > 0 {
			me, other := false, false
			for _, id := range s.ids {
				n := normID(id)
				any := n == "%any" || n == "%any6"
				me = me || any || (local != "" && n == normID(local))
				other = other || any || (remote != "" && n == normID(remote))
			}
			if !me && !other {
				continue
			}
			score = 2
			if me {
				score++
			}
			if other {
				score += 2
			}
		}
		if score > bestScore {
			best, bestScore = s, score
		}
	}
	return best
}

// noteInsecure records algorithms that need [daemon] insecure_algorithms.
func (c *converter) noteInsecure(algs []string, pos Pos) {
	if len(algs) == 0 {
		return
	}
	c.insecure = append(c.insecure, algs...)
	c.insecPos = append(c.insecPos, pos)
}

// finishConn applies the rules between a connection and its children: oakley's connection
// start_action is the strongest of its children's (start > trap > none) and a child only
// writes its own when it differs; AH needs encap = "raw".
func (c *converter) finishConn(co *connOut) {
	rank := map[string]int{"none": 0, "trap": 1, "start": 2}
	best := "none"
	for _, ch := range co.children {
		if rank[ch.start] > rank[best] {
			best = ch.start
		}
	}
	var from []Pos
	for _, ch := range co.children {
		if ch.start == best {
			from = append(from, ch.startPos)
		}
	}
	if len(from) == 0 {
		from = []Pos{co.pos}
	}
	co.b.setStr("start_action", best, from...)
	for _, ch := range co.children {
		if ch.start != best {
			ch.b.setStr("start_action", ch.start, ch.startPos)
		}
	}
	if co.ah {
		if co.encapForce {
			c.d.warnf(co.encapFrom, "connection %s: UDP encapsulation is forced, but a child uses AH, which cannot be UDP-encapsulated; oakley needs encap = \"raw\"", co.name)
		}
		co.b.setStr("encap", "raw", co.encapFrom).note = "AH needs raw IP protocol 51"
	}
	c.conns = append(c.conns, co)
	c.doc.conns = append(c.doc.conns, co.b)
}

// finish writes the header and the [daemon] and [device] tables.
func (c *converter) finish(format, main string) {
	c.doc.header = []string{
		fmt.Sprintf("oakley configuration converted by `oakley import` from %s (%s).", main, format),
		"Every value names the strongSwan line it comes from; what has no oakley equivalent was",
		"reported on stderr as FILE:LINE: warning. Check the result with `oakley check -c FILE`.",
	}
	c.doc.header = append(c.doc.header, c.d.notes...)
	if len(c.insecure) > 0 {
		c.doc.daemon.set("insecure_algorithms", "true", c.insecPos...).note = insecureNote(c.insecure)
		c.d.warnf(c.insecPos[0], "the configuration uses %s, which oakley allows only with [daemon] insecure_algorithms = true (set in the output); prefer stronger algorithms",
			strings.Join(dedupStrings(c.insecure), ", "))
	} else {
		c.doc.daemon.notef("strongSwan's files say nothing about oakley's daemon; its defaults apply (CONFIG.md).")
	}
	c.doc.device.notef("strongSwan's files do not name this site's addresses inside the tunnel: add them, e.g.")
	c.doc.device.notef(`addresses = ["192.0.2.1/32"]`)
}

// listDir returns the regular files directly under dir (through the converter's FS),
// sorted; nil when there are none or the directory cannot be read.
func (c *converter) listDir(dir string) []string {
	if c.fs == nil {
		return nil
	}
	m, err := c.fs.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil
	}
	sort.Strings(m)
	return m
}

// absPath makes a file name from the input absolute, relative to base.
func absPath(base, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	p, err := filepath.Abs(filepath.Join(base, name))
	if err != nil {
		return filepath.Join(base, name)
	}
	return p
}

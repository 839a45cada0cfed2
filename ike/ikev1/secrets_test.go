package ikev1

// Secrets never reach a log line (ARCHITECTURE.md, STYLE.md 9): whole in-memory IKEv1 runs at
// debug level (Main Mode and Aggressive Mode, Quick Mode with PFS, a child rekey, a Phase 1
// re-authentication, DPD, Deletes, a wrong pre-shared key), their complete log output (every
// message, logger name and field, as zap's JSON encoder writes it and as raw values) searched
// for the pre-shared keys and every key derived on the way (SKEYID, SKEYID_d, SKEYID_a,
// SKEYID_e, the Phase 1 encryption key Ka, both keys of every child SA) in raw, hex and base64
// form. TestSecretSearchFindsPlantedKeys shows the search finds a key planted in a log line in
// each form and place.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
)

// logCapture is a zap core that keeps everything logged through it twice: as zap's JSON
// encoder renders it, and as raw text (message, logger name, every field's value unescaped:
// strings, byte strings, binary fields, errors, Stringers, reflected values).
type logCapture struct {
	mu   *sync.Mutex
	json *bytes.Buffer
	raw  *bytes.Buffer
	enc  zapcore.Encoder
	with []zapcore.Field
}

func newLogCapture() *logCapture {
	cfg := zap.NewDevelopmentEncoderConfig()
	return &logCapture{mu: &sync.Mutex{}, json: &bytes.Buffer{}, raw: &bytes.Buffer{}, enc: zapcore.NewJSONEncoder(cfg)}
}

func (c *logCapture) Enabled(zapcore.Level) bool { return true }

func (c *logCapture) With(fields []zapcore.Field) zapcore.Core {
	d := *c
	d.with = append(append([]zapcore.Field(nil), c.with...), fields...)
	return &d
}

func (c *logCapture) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}

func (c *logCapture) Write(e zapcore.Entry, fields []zapcore.Field) error {
	all := append(append([]zapcore.Field(nil), c.with...), fields...)
	c.mu.Lock()
	defer c.mu.Unlock()
	buf, err := c.enc.Clone().EncodeEntry(e, all)
	if err != nil {
		return err
	}
	c.json.Write(buf.Bytes())
	buf.Free()
	fmt.Fprintf(c.raw, "%s %s", e.LoggerName, e.Message)
	m := zapcore.NewMapObjectEncoder()
	for _, f := range all {
		f.AddTo(m)
		if f.Interface != nil {
			writeRaw(c.raw, f.Interface)
		}
	}
	for k, v := range m.Fields {
		c.raw.WriteString(" " + k + "=")
		writeRaw(c.raw, v)
	}
	c.raw.WriteString("\n")
	return nil
}

// writeRaw writes a value unescaped: bytes as they are, errors and Stringers as text, the rest
// with %v and as JSON.
func writeRaw(w *bytes.Buffer, v any) {
	switch v := v.(type) {
	case []byte:
		w.Write(v)
	case string:
		w.WriteString(v)
	case error:
		w.WriteString(v.Error())
	case fmt.Stringer:
		w.WriteString(v.String())
	default:
		fmt.Fprintf(w, "%v", v)
		if j, err := json.Marshal(v); err == nil {
			w.Write(j)
		}
	}
	w.WriteByte(' ')
}

func (c *logCapture) Sync() error { return nil }

// text returns both renderings.
func (c *logCapture) text() (jsonText, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.json.Bytes()), bytes.Clone(c.raw.Bytes())
}

// secretForms are the ways a key can show up in a log: raw, hex (either case), base64 (all
// four alphabets/paddings), and the first 8 bytes raw and in hex.
func secretForms(k []byte) map[string][]byte {
	h := hex.EncodeToString(k)
	return map[string][]byte{
		"raw":            k,
		"hex":            []byte(h),
		"HEX":            []byte(strings.ToUpper(h)),
		"base64":         []byte(base64.StdEncoding.EncodeToString(k)),
		"base64-raw":     []byte(base64.RawStdEncoding.EncodeToString(k)),
		"base64-url":     []byte(base64.URLEncoding.EncodeToString(k)),
		"base64-url-raw": []byte(base64.RawURLEncoding.EncodeToString(k)),
		"first 8 raw":    k[:8],
		"first 8 hex":    []byte(h[:16]),
	}
}

// secretSet collects named keys (copies: the engines wipe theirs).
type secretSet struct {
	names []string
	keys  [][]byte
	seen  map[string]bool
}

func (s *secretSet) add(name string, k []byte) {
	if len(k) < 8 {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[string(k)] {
		return
	}
	s.seen[string(k)] = true
	s.names = append(s.names, name)
	s.keys = append(s.keys, bytes.Clone(k))
}

// harvest records every key the nodes hold now: their ISAKMP SAs' SKEYID family and Ka, and
// both keys of both SAs of every child pair.
func (s *secretSet) harvest(nodes ...*node) {
	for _, nd := range nodes {
		for _, x := range nd.c.SAs() {
			sa := x.(*ikeSA)
			if k := sa.keys; k != nil {
				s.add(nd.name+" SKEYID", k.skeyid)
				s.add(nd.name+" SKEYID_d", k.skeyidD)
				s.add(nd.name+" SKEYID_a", k.skeyidA)
				s.add(nd.name+" SKEYID_e", k.skeyidE)
				s.add(nd.name+" Ka", k.ka)
			}
		}
		for _, cs := range nd.c.Conns() {
			for _, ch := range cs.Children {
				for _, csa := range ch.SAs {
					in, out := csa.SAs()
					for _, sa := range []*esp.SA{in, out} {
						cfg := sa.Config()
						s.add(fmt.Sprintf("%s child %s %08x enc", nd.name, cfg.Dir, cfg.SPI), cfg.EncKey)
						s.add(fmt.Sprintf("%s child %s %08x integ", nd.name, cfg.Dir, cfg.SPI), cfg.IntegKey)
					}
				}
			}
		}
	}
}

// find returns where each secret shows up in the logs ("" if nowhere).
func (s *secretSet) find(jsonText, raw []byte) []string {
	var hits []string
	for i, k := range s.keys {
		for form, pattern := range secretForms(k) {
			for what, text := range map[string][]byte{"JSON log": jsonText, "raw log values": raw} {
				if bytes.Contains(text, pattern) {
					hits = append(hits, fmt.Sprintf("%s (%s) in the %s", s.names[i], form, what))
				}
			}
		}
	}
	return hits
}

// captureLogs sends everything both nodes log from now on to one capture, and to fresh
// observers (which logged and the failure dumps read).
func captureLogs(nodes ...*node) *logCapture {
	lc := newLogCapture()
	for _, nd := range nodes {
		obs, logs := observer.New(zap.DebugLevel)
		nd.core.Log, nd.logs = zap.New(zapcoreTee(lc, obs)).Named(nd.name), logs
	}
	return lc
}

func TestNoSecretsInLogs(t *testing.T) {
	type run struct {
		name             string
		o                pairOpts
		body             func(t *testing.T, n *lnet, a, b *node, keys *secretSet)
		minIKE, minChild int // distinct keys the run must make (Ka = SKEYID_e when it is long enough)
	}
	lifecycle := func(t *testing.T, n *lnet, a, b *node, keys *secretSet) {
		establish(t, n, a, b)
		// A child rekey, a Phase 1 re-authentication (children move over), DPD, then
		// Terminate with its Deletes.
		a.softExpire(connNamed(a.c, "ab").Child("net").Newest())
		n.runFor(10 * time.Second)
		connNamed(a.c, "ab").Current().Rekey(n.now)
		n.runFor(10 * time.Second)
		n.runFor(time.Minute)
		connNamed(a.c, "ab").Terminate(n.now, ErrDeleted)
		n.runFor(10 * time.Second)
		if a.ctr.Get(core.CtrChildRekeys) == 0 || a.ctr.Get(core.CtrIKEEstablished) < 2 || a.ctr.Get(core.CtrDPDRequestsOut) == 0 {
			t.Fatalf("the run missed a step: %v", a.ctr.Snapshot())
		}
	}
	runs := []run{
		{"main-mode-pfs-rekey-reauth-dpd-delete", pairOpts{esp: []string{"aes256-sha256-modp2048"}, tweak: func(a, b *core.Connection) {
			for _, c := range []*core.Connection{a, b} {
				c.DPDDelay, c.DPDTimeout, c.DPDAction = 10*time.Second, 30*time.Second, "restart"
			}
		}}, lifecycle, 8, 8},
		{"aggressive-mode-gcm", pairOpts{aggressive: true, esp: []string{"aes128gcm16-ecp256"}}, func(t *testing.T, n *lnet, a, b *node, keys *secretSet) {
			establish(t, n, a, b)
		}, 4, 2},
		{"wrong-psk", pairOpts{}, func(t *testing.T, n *lnet, a, b *node, keys *secretSet) {
			b.conns[0].PSK = crypto.Key("another pre-shared key, just as long as the first")
			keys.add("B's pre-shared key", b.conns[0].PSK)
			a.c.Start(n.now)
			n.runFor(45 * time.Second)
			if !logged(a, "authentication failed") {
				t.Fatal("the wrong key was not noticed")
			}
		}, 4, 0},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			n, a, b := newPair(t, r.o)
			lc := captureLogs(a, b)
			keys := &secretSet{}
			keys.add("the pre-shared key", testPSK)
			n.afterStep = func() { keys.harvest(a, b) }
			r.body(t, n, a, b, keys)
			jsonText, raw := lc.text()
			ike, child := 0, 0
			for _, name := range keys.names {
				if strings.Contains(name, "child") {
					child++
				} else if strings.Contains(name, "SKEYID") || strings.HasSuffix(name, "Ka") {
					ike++
				}
			}
			t.Logf("%d bytes of JSON log, %d lines; searched for %d secrets (%d Phase 1 keys, %d child SA keys, %d pre-shared keys) in %d forms each",
				len(jsonText), bytes.Count(jsonText, []byte("\n")), len(keys.keys), ike, child, len(keys.keys)-ike-child, len(secretForms(testPSK)))
			if ike < r.minIKE || child < r.minChild {
				t.Fatalf("harvested only %d Phase 1 and %d child keys, want %d and %d", ike, child, r.minIKE, r.minChild)
			}
			if !bytes.Contains(jsonText, []byte(`"level":"debug"`)) && !bytes.Contains(jsonText, []byte(`"L":"DEBUG"`)) {
				t.Fatalf("nothing logged at debug level:\n%.2000s", jsonText)
			}
			for _, h := range keys.find(jsonText, raw) {
				t.Errorf("secret in the log: %s", h)
			}
		})
	}
}

// TestSecretSearchFindsPlantedKeys is the negative control of TestNoSecretsInLogs: keys
// planted in a log line (as a string field, hex, base64 binary, inside an error, in the
// message, through With) are found, in every form.
func TestSecretSearchFindsPlantedKeys(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a, 0xc3, 0x01, 0xfe}, 8)
	plants := map[string]func(l *zap.Logger){
		"raw string field": func(l *zap.Logger) { l.Debug("x", zap.ByteString("k", key)) },
		"hex field":        func(l *zap.Logger) { l.Info("x", zap.String("k", hex.EncodeToString(key))) },
		"HEX in message":   func(l *zap.Logger) { l.Warn("key " + strings.ToUpper(hex.EncodeToString(key))) },
		"binary field":     func(l *zap.Logger) { l.Debug("x", zap.Binary("k", key)) },
		"error":            func(l *zap.Logger) { l.Info("x", zap.Error(errors.New("bad "+hex.EncodeToString(key)))) },
		"With":             func(l *zap.Logger) { l.With(zap.String("k", base64.URLEncoding.EncodeToString(key))).Debug("x") },
		"reflected":        func(l *zap.Logger) { l.Debug("x", zap.Any("k", struct{ K []byte }{key})) },
		"first 8 bytes":    func(l *zap.Logger) { l.Debug("x", zap.String("k", hex.EncodeToString(key[:8])+"...")) },
	}
	for name, plant := range plants {
		lc := newLogCapture()
		plant(zap.New(lc))
		keys := &secretSet{}
		keys.add("planted", key)
		jsonText, raw := lc.text()
		if hits := keys.find(jsonText, raw); len(hits) == 0 {
			t.Errorf("%s: the planted key was not found in %q / %q", name, jsonText, raw)
		}
	}
	// A log without it finds nothing.
	lc := newLogCapture()
	zap.New(lc).Info("nothing here", zap.String("k", "0123"))
	keys := &secretSet{}
	keys.add("planted", key)
	if hits := keys.find(lc.text()); len(hits) != 0 {
		t.Errorf("found %v in a clean log", hits)
	}
}

package ikev1

// Recorded strongSwan sessions (testdata/strongswan-*.txt, made by testdata/capture/
// record.sh): every ISAKMP datagram of a charon <-> charon session and the values both
// charons logged at ike=4/chd=4 (DH secrets, SKEYID*, Ka, IVs, hashes, ESP keys).

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oakley/crypto"
	"oakley/ike/isakmp"
)

const recordedPSK = "interop-test-psk-0123456789"

type recMsg struct {
	label string
	from  string // "i" or "r"
	port  string
	raw   []byte
	msg   *isakmp.Message
}

type recording struct {
	name string
	conf map[string]string
	msgs []recMsg
	vals map[string][][]byte // "i SKEYID" -> values in log order
}

var recordingNames = []string{"main-psk", "main-psk-pfs", "main-3des-sha1", "aggr-psk", "aggr-psk-pfs"}

func loadRecording(t testing.TB, name string) *recording {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "strongswan-"+name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &recording{name: name, conf: map[string]string{}, vals: map[string][][]byte{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		switch fs[0] {
		case "conf":
			r.conf[fs[1]] = fs[2]
		case "msg":
			raw, err := hex.DecodeString(fs[4])
			if err != nil {
				t.Fatal(err)
			}
			m, err := isakmp.DecodeMessage(raw)
			if err != nil {
				t.Fatalf("%s %s: %v", name, fs[1], err)
			}
			r.msgs = append(r.msgs, recMsg{label: fs[1], from: fs[2], port: fs[3], raw: raw, msg: m})
		case "val":
			v, err := hex.DecodeString(fs[3])
			if err != nil {
				t.Fatal(err)
			}
			k := fs[1] + " " + fs[2]
			r.vals[k] = append(r.vals[k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *recording) msg(t testing.TB, label string) recMsg {
	t.Helper()
	for _, m := range r.msgs {
		if m.label == label {
			return m
		}
	}
	t.Fatalf("%s: no message %s", r.name, label)
	return recMsg{}
}

// val returns the i-th value a side logged under a name.
func (r *recording) val(t testing.TB, side, name string, i int) []byte {
	t.Helper()
	v := r.vals[side+" "+name]
	if i >= len(v) {
		t.Fatalf("%s: %s logged %d times, want #%d of %q", r.name, side, len(v), i, name)
	}
	return v[i]
}

func (r *recording) aggressive() bool { return r.conf["aggressive"] == "yes" }

// phase1Labels returns the labels of the Phase 1 messages in order.
func (r *recording) phase1Labels() []string {
	if r.aggressive() {
		return []string{"AM1", "AM2", "AM3"}
	}
	return []string{"MM1", "MM2", "MM3", "MM4", "MM5", "MM6"}
}

// quickModes returns the Quick Mode messages, retransmissions removed.
func (r *recording) quickModes() []recMsg {
	var out []recMsg
	for _, m := range r.msgs {
		if m.msg.Header.ExchangeType != isakmp.ExchangeQuickMode {
			continue
		}
		if len(out) > 0 && bytes.Equal(out[len(out)-1].raw, m.raw) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (r *recording) informationals() []recMsg {
	var out []recMsg
	for _, m := range r.msgs {
		if m.msg.Header.ExchangeType == isakmp.ExchangeInformational {
			out = append(out, m)
		}
	}
	return out
}

func mustPayload[T isakmp.Payload](t testing.TB, c *isakmp.Chain) (T, int) {
	t.Helper()
	p, i := payloadOf[T](c)
	if i < 0 {
		var zero T
		t.Fatalf("no %T payload", zero)
	}
	return p, i
}

// recordedP1 is what a recording's plaintext Phase 1 messages reveal.
type recordedP1 struct {
	ckyI, ckyR isakmp.Cookie
	saiB       []byte
	tr         p1Transform
	gxi, gxr   []byte
	ni, nr     []byte
	prf        *crypto.PRF
}

func (r *recording) phase1(t testing.TB) recordedP1 {
	t.Helper()
	var p recordedP1
	first := r.msg(t, r.phase1Labels()[0]).msg
	second := r.msg(t, r.phase1Labels()[1]).msg
	p.ckyI, p.ckyR = second.Header.InitiatorCookie, second.Header.ResponderCookie
	_, si := mustPayload[*isakmp.SA](t, &first.Chain)
	p.saiB = first.Chain.Body(si)
	chosen, _ := mustPayload[*isakmp.SA](t, &second.Chain)
	var err error
	if p.tr, err = parseP1Transform(&chosen.Proposals[0].Transforms[0]); err != nil {
		t.Fatal(err)
	}
	keI, keR := first, second
	if !r.aggressive() {
		keI, keR = r.msg(t, "MM3").msg, r.msg(t, "MM4").msg
	}
	ki, _ := mustPayload[*isakmp.KeyExchange](t, &keI.Chain)
	kr, _ := mustPayload[*isakmp.KeyExchange](t, &keR.Chain)
	ni, _ := mustPayload[*isakmp.Nonce](t, &keI.Chain)
	nr, _ := mustPayload[*isakmp.Nonce](t, &keR.Chain)
	p.gxi, p.gxr, p.ni, p.nr = ki.Data, kr.Data, ni.Data, nr.Data
	if p.prf, err = crypto.NewPRF(p.tr.hash); err != nil {
		t.Fatal(err)
	}
	return p
}

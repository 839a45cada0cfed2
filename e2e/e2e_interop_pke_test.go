//go:build linux

package e2e

// Public-key encryption (auth = "pke", RFC 2409 §5.2 and §5.3) between two oakley processes
// over the wire, since no open implementation speaks these modes (issue 9): the original and
// the revised mode, in Main Mode and Aggressive Mode, with traffic across; the responder of
// the revised mode without remote_cert (it learns the initiator's key from the encrypted
// certificate and verifies it with cacerts); and a refusal: a responder that pins another
// key for the initiator fails the exchange with AUTHENTICATION-FAILED on both sides.

import (
	"strings"
	"testing"
	"time"
)

// pkeSites configures two oakleys for public-key encryption with RSA certificates (left
// initiates); each pins the other's certificate.
func pkeSites(t *testing.T, tp *ioTopo, auth string, aggressive bool) (l, r ikeSite, p *e2ePKI, eeL, eeR *e2eCert, dirL, dirR string) {
	p = sharedPKI(t, "rsa2048", "")
	eeL = p.endEntity(t, "left", leftID, "pke-left", certOpts{})
	eeR = p.endEntity(t, "right", rightID, "pke-right", certOpts{})
	l, r = siteFor(tp, tp.left, ""), siteFor(tp, tp.right, "")
	dirL, dirR = t.TempDir(), t.TempDir()
	for _, x := range []struct {
		s         *ikeSite
		own, peer *e2eCert
		inter     *e2eCert
		dir       string
	}{{&l, eeL, eeR, p.left, dirL}, {&r, eeR, eeL, p.right, dirR}} {
		x.s.Auth, x.s.Insecure, x.s.Aggressive = auth, true, aggressive
		x.s.Proposals = []string{"aes256-sha256-modp2048"}
		x.s.Cert = writeFile(t, x.dir, "own.pem", append(x.own.certPEM(), x.inter.certPEM()...))
		x.s.Key = writeFile(t, x.dir, "own-key.pem", x.own.keyPEM(t))
		x.s.RemoteCert = writeFile(t, x.dir, "peer.pem", x.peer.certPEM())
		x.s.Children[0].ESP = []string{"aes128gcm16"}
	}
	return
}

func TestInteropOakleyPKE(t *testing.T) {
	needNetns(t)
	t.Parallel()
	cases := []struct {
		name       string
		auth       string
		aggressive bool
		caOnly     bool   // the responder has cacerts instead of remote_cert (revised mode)
		wantAuth   string // the method in `oakley status`
		pinWrong   bool   // the responder pins another key for the initiator: refused
	}{
		{name: "main-revised", auth: "pke", wantAuth: "Revised encryption with RSA"},
		{name: "main-original", auth: "pke-original", wantAuth: "Encryption with RSA"},
		{name: "main-revised-responder-trusts-ca", auth: "pke-revised", caOnly: true, wantAuth: "Revised encryption with RSA"},
		{name: "aggressive-revised", auth: "pke-revised", aggressive: true, wantAuth: "Revised encryption with RSA"},
		{name: "aggressive-original", auth: "pke-original", aggressive: true, wantAuth: "Encryption with RSA"},
		{name: "main-original-wrong-key-refused", auth: "pke-original", pinWrong: true},
	}
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	parallelRuns(t, 3, names, func(t *testing.T, i int) {
		c := cases[i]
		tp := newTopo(t, false)
		ls, rs, p, _, eeR, _, dirR := pkeSites(t, tp, c.auth, c.aggressive)
		if c.caOnly {
			rs.RemoteCert, rs.CACerts = "", []string{writeFile(t, dirR, "ca.pem", p.root.certPEM())}
			rs.RemoteAddr = "%any" // a responder only: it learns the initiator's key from its certificate
		}
		if c.pinWrong {
			other := p.endEntity(t, "left", leftID, "pke-other", certOpts{})
			rs.RemoteCert = writeFile(t, dirR, "peer.pem", other.certPEM())
			ls.Extra = "retransmit_timeout = \"1s\"\nretransmit_base = 1.5\nretransmit_tries = 3"
		}
		r := startIKE(t, tp.right, "right", rs)
		l := startIKE(t, tp.left, "left", ls)
		if c.pinWrong {
			out, err := l.ctl("initiate", ls.connName()+"/net")
			if err == nil {
				t.Fatalf("the exchange succeeded although the responder pins another key:\n%s", out)
			}
			for _, o := range []*oakley{l, r} {
				if !waitFor(10*time.Second, func() bool { return strings.Contains(o.p.out.String(), "authentication failed: public-key encryption") }) {
					t.Errorf("oakley %s logged no public-key-encryption authentication failure", o.name)
				}
			}
			for _, o := range []*oakley{l, r} {
				if s := o.mustIKEStatus(t); s.established() != 0 || len(s.allSAs()) != 0 {
					t.Errorf("oakley %s has SAs after the refusal:\n%s", o.name, s.raw)
				}
			}
			return
		}
		pg := startPinger(t, tp.left, tp.right.host, 30)
		t0 := time.Now()
		l.mustCtl(t, "initiate", ls.connName()+"/net")
		first := pg.first(t, 20*time.Second)
		waitChildUp(t, l, 10*time.Second)
		waitChildUp(t, r, 10*time.Second)
		pingBoth(t, tp, 2)
		for _, o := range []*oakley{l, r} {
			s := o.mustIKEStatus(t)
			ike := s.Connections[0].IKESAs[0]
			mode := map[bool]string{false: "Main Mode", true: "Aggressive Mode"}[c.aggressive]
			if ike.State != "established" || ike.Auth != c.wantAuth || ike.Mode != mode {
				t.Errorf("oakley %s: IKE SA %s, auth %q, %s; want established, %q, %s", o.name, ike.State, ike.Auth, ike.Mode, c.wantAuth, mode)
			}
		}
		checkPeerCert(t, l, eeR)
		recordResult(t, "oakley <-> oakley, public-key encryption (%s, %s) + Quick Mode: %s to the first ping",
			c.wantAuth, map[bool]string{false: "Main Mode", true: "Aggressive Mode"}[c.aggressive], first.Sub(t0).Round(time.Millisecond))
	})
}

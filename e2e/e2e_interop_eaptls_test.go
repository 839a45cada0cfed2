//go:build linux

package e2e

// IKEv2 EAP-TLS against strongSwan: oakley as the EAP-TLS client of a charon gateway, and a
// charon EAP-TLS client of an oakley gateway, with charon's default TLS 1.2 (5.9's
// tls.version_max). Each login leases a virtual IP and carries a ping; a client certificate
// of a CA the gateway does not trust is refused, clearly, on both sides.
//
// TLS 1.3 (charon.tls.version_max = 1.3) does not interoperate with Debian's 5.9.8: its
// CertificateRequest carries an empty certificate_authorities extension, which crypto/tls
// rejects (decode_error), and as a client charon crashes on the server's protected success
// indication (RFC 9190 §2.1.1). oakley ↔ oakley runs TLS 1.3 (ike/ikev2 TestEAPTLS).

import (
	"strings"
	"testing"
	"time"

	"oakley/e2e/lab"
)

// startSwanEAPTLS starts charon with the eap-tls plugin.
func startSwanEAPTLS(t *testing.T, side *ioSide, name, conf string, files map[string][]byte) *swan {
	t.Helper()
	l, err := lab.New("okt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	l.CharonExtra = []string{"attr", "eap-identity", "eap-tls"}
	if out, err := side.ns.run("ip", "addr", "replace", side.host+"/32", "dev", "lo"); err != nil {
		t.Fatalf("ip addr replace %s dev lo: %v\n%s", side.host, err, out)
	}
	c, err := l.StartCharon(string(side.ns), name, conf, files, "ike=2 cfg=2 knl=1 net=1 enc=1 tls=2")
	if err != nil {
		t.Fatalf("starting charon in %s: %v", side.ns, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("charon %s (%s) log:\n%s", name, side.ns, tail(c.Log(), 12000))
		}
	})
	return &swan{Charon: c, side: side}
}

// swanEAPTLSGateway is charon's EAP-TLS gateway (right): its certificate, eap_id = %any
// (EAP-Identity first), clients verified with the CA it has, a pool.
func swanEAPTLSGateway(tp *ioTopo) string {
	r := tp.right
	return `connections {
  rw {
    version = 2
    proposals = aes128gcm16-prfsha256-ecp256
    local_addrs = ` + r.outer + `
    remote_addrs = %any
    pools = rw
    local {
      auth = pubkey
      certs = right.pem
      id = ` + rightID + `
    }
    remote {
      auth = eap-tls
      eap_id = %any
    }
    children {
      net {
        local_ts = ` + r.net + `
        esp_proposals = aes128gcm16
      }
    }
  }
}
pools {
  rw {
    addrs = ` + xaPool + `
    dns = 198.51.100.53
  }
}
`
}

// swanEAPTLSClient is charon as an EAP-TLS client (left) with the certificate left.pem,
// asking for a virtual IP.
func swanEAPTLSClient(tp *ioTopo) string {
	l, r := tp.left, tp.right
	return `connections {
  gw {
    version = 2
    proposals = aes128gcm16-prfsha256-ecp256
    local_addrs = ` + l.outer + `
    remote_addrs = ` + r.seen + `
    vips = 0.0.0.0
    local {
      auth = eap-tls
      certs = left.pem
      id = ` + leftID + `
      eap_id = ` + leftID + `
    }
    remote {
      auth = pubkey
      id = ` + rightID + `
    }
    children {
      net {
        remote_ts = ` + r.net + `
        esp_proposals = aes128gcm16
        start_action = none
      }
    }
  }
}
`
}

// oakleyEAPTLSClient is oakley's EAP-TLS client (left): its certificate and key (of the CA
// of client), the CA of p to verify the gateway, eap_id, vips.
func oakleyEAPTLSClient(tp *ioTopo, p, client *testPKI) ikeSite {
	site := siteFor(tp, tp.left, "")
	site.Version = 2
	site.Addresses = nil
	site.Proposals = []string{"aes128gcm16-prfsha256-ecp256"}
	site.Auth, site.Cert, site.Key, site.CACerts = "pubkey", "left.pem", "left.key", []string{"ca.pem"}
	site.VIPs = []string{"0.0.0.0"}
	site.Children[0].LocalTS = nil
	site.Children[0].ESP = []string{"aes128gcm16"}
	site.ConnExtra = `eap = "tls"
eap_id = "` + leftID + `"`
	site.Files = map[string][]byte{"left.pem": client.leftCert, "left.key": client.leftKey, "ca.pem": p.caPEM}
	return site
}

// oakleyEAPTLSGateway is oakley's EAP-TLS gateway (right): its certificate, the CA that
// verifies clients, a pool.
func oakleyEAPTLSGateway(tp *ioTopo, p *testPKI) ikeSite {
	site := siteFor(tp, tp.right, "")
	site.Version = 2
	site.RemoteID = "%any"
	site.Proposals = []string{"aes128gcm16-prfsha256-ecp256"}
	site.Auth, site.Cert, site.Key, site.CACerts = "pubkey", "right.pem", "right.key", []string{"ca.pem"}
	site.Children[0].RemoteTS = []string{xaPoolNet}
	site.Children[0].ESP = []string{"aes128gcm16"}
	site.ConnExtra = `eap = "tls"
pools = ["rw"]`
	site.TopExtra = `[[pool]]
name = "rw"
addrs = "` + xaPool + `"
dns = ["198.51.100.53"]`
	site.Files = map[string][]byte{"right.pem": p.rightCert, "right.key": p.rightKey, "ca.pem": p.caPEM}
	return site
}

// TestInteropEAPTLSClient: oakley logs in to a charon EAP-TLS gateway with its certificate
// (TLS 1.2, charon's default), gets a virtual IP and pings the inside from it.
// Negative control: a client certificate of another CA is refused (charon's TLS alert and
// EAP-Failure, oakley's clear error, auth_failures, no SA).
func TestInteropEAPTLSClient(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, tc := range []string{"login", "login-rsa", "untrusted-cert"} {
		t.Run(tc, func(t *testing.T) {
			tp := newTopo(t, false)
			p := newTestPKI(t, map[bool]string{false: "ecdsa", true: "rsa"}[tc == "login-rsa"])
			client := p
			if tc == "untrusted-cert" {
				client = newTestPKI(t, "ecdsa")
			}
			swFiles := map[string][]byte{"x509ca/ca.pem": p.caPEM, "x509/right.pem": p.rightCert, "private/right.key": p.rightKey}
			sw := startSwanEAPTLS(t, tp.right, "gateway", swanEAPTLSGateway(tp), swFiles)
			site := oakleyEAPTLSClient(tp, p, client)
			o := startIKE(t, tp.left, "client", site)
			t0 := time.Now()
			out, err := o.ctl("initiate", site.connName()+"/net")
			took := time.Since(t0)
			if tc == "untrusted-cert" {
				if err == nil {
					t.Fatalf("oakley initiate succeeded with an untrusted client certificate:\n%s", out)
				}
				t.Logf("oakley initiate: %v: %s", err, strings.TrimSpace(out))
				waitLog(t, o, "EAP-TLS handshake failed", 10*time.Second)
				// charon's alert, our acknowledgement of it (RFC 5216 §2.1.3), its EAP-Failure.
				waitLog(t, o, "tls: unknown certificate", time.Second)
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					l := sw.Log()
					if strings.Contains(l, "no trusted certificate found for '"+leftID+"' to verify TLS peer") &&
						strings.Contains(l, "EAP method EAP_TLS failed for peer "+leftID) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("charon does not say the login failed:\n%s", grepLines(l, `(?i)eap|tls|certificate`))
					}
				}
				if st := o.mustIKEStatus(t); st.established() != 0 || len(st.allSAs()) != 0 || st.IKECounters["auth_failures"] == 0 {
					t.Fatalf("after a refused login: %d IKE SAs, %d child SAs, auth_failures %d", st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
				}
				return
			}
			if err != nil {
				t.Fatalf("oakley initiate: %v\n%s", err, out)
			}
			st := waitChildUp(t, o, 10*time.Second)
			const version = "TLS 1.2"
			recordResult(t, "IKEv2 EAP-TLS (%s) client of strongSwan (%s certificates, EAP-Identity, virtual IP): %s from `oakley initiate` to the child SA installed", version, keyKind(tc), took.Round(time.Millisecond))
			ike := st.Connections[0].IKESAs[0]
			if !strings.HasPrefix(ike.Auth, "EAP-TLS "+leftID) {
				t.Fatalf("oakley's IKE SA auth %q", ike.Auth)
			}
			if len(ike.VirtualIPs) != 1 || ike.VirtualIPs[0] != xaFirstVIP {
				t.Fatalf("oakley status virtual IPs %v, want [%s]:\n%s", ike.VirtualIPs, xaFirstVIP, st.raw)
			}
			if !o.p.logged(`"tls": "` + version + `"`) {
				t.Fatalf("oakley did not log %s:\n%s", version, grepLines(o.p.out.String(), "EAP-TLS"))
			}
			if l := sw.Log(); !strings.Contains(l, "EAP method EAP_TLS succeeded, MSK established") {
				t.Fatalf("charon did not establish the MSK:\n%s", grepLines(l, `(?i)eap|tls|auth`))
			}
			mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
			sas := sw.listSAs(t)
			if len(sas) != 1 || sas[0].Fields["state"] != "ESTABLISHED" || len(sas[0].Children) != 1 || sas[0].Children[0]["packets-in"] == "0" {
				t.Fatalf("charon's SAs: %+v", sas)
			}
		})
	}
}

// TestInteropEAPTLSGateway: a charon EAP-TLS client logs in to an oakley gateway with its
// certificate (TLS 1.2), gets the pool's first address (leased for the EAP identity)
// and pings the inside. Negative control: a client certificate of another CA is refused
// (oakley's TLS alert and EAP-Failure, charon's failure, auth_failures, no SA, no lease).
func TestInteropEAPTLSGateway(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, tc := range []string{"login", "login-rsa", "untrusted-cert"} {
		t.Run(tc, func(t *testing.T) {
			tp := newTopo(t, false)
			p := newTestPKI(t, map[bool]string{false: "ecdsa", true: "rsa"}[tc == "login-rsa"])
			client := p
			if tc == "untrusted-cert" {
				client = newTestPKI(t, "ecdsa")
			}
			o := startIKE(t, tp.right, "gateway", oakleyEAPTLSGateway(tp, p))
			files := map[string][]byte{"x509ca/ca.pem": p.caPEM, "x509/left.pem": client.leftCert, "private/left.key": client.leftKey}
			sw := startSwanEAPTLS(t, tp.left, "client", swanEAPTLSClient(tp), files)
			t0 := time.Now()
			out, err := sw.Swanctl("--initiate", "--child", "net", "--timeout", "30")
			took := time.Since(t0)
			if tc == "untrusted-cert" {
				if err == nil {
					t.Fatalf("swanctl --initiate succeeded with an untrusted certificate:\n%s", out)
				}
				waitLog(t, o, "peer TLS certificate not accepted", 10*time.Second)
				if l := sw.Log(); !strings.Contains(l, "received fatal TLS alert 'bad certificate'") || !strings.Contains(l, "EAP_TLS method failed") {
					t.Fatalf("charon does not say the login failed:\n%s", grepLines(l, `(?i)eap|tls|AUTHENTICATION_FAILED`))
				}
				deadline := time.Now().Add(40 * time.Second)
				for {
					st := o.mustIKEStatus(t)
					if st.established() == 0 && len(st.allSAs()) == 0 && len(st.Connections[0].IKESAs) == 0 && st.IKECounters["auth_failures"] == 1 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("after a refused login: %d IKE SAs (%d established), %d child SAs, auth_failures %d", len(st.Connections[0].IKESAs), st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
					}
					time.Sleep(100 * time.Millisecond)
				}
				return
			}
			if err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, out)
			}
			st := waitChildUp(t, o, 10*time.Second)
			const version = "TLS 1.2"
			recordResult(t, "strongSwan EAP-TLS (%s) client of an oakley gateway (%s certificates both ways, EAP-Identity, virtual IP): %s for `swanctl --initiate`", version, keyKind(tc), took.Round(time.Millisecond))
			ike := st.Connections[0].IKESAs[0]
			if len(ike.VirtualIPs) != 1 || ike.VirtualIPs[0] != xaFirstVIP || !strings.Contains(ike.Auth, "peer EAP-TLS "+leftID) {
				t.Fatalf("oakley status: virtual IPs %v, auth %q:\n%s", ike.VirtualIPs, ike.Auth, st.raw)
			}
			if !o.p.logged("eap:"+leftID) || !o.p.logged(`"tls": "`+version+`"`) {
				t.Fatalf("oakley's lease is not for the EAP identity, or not %s:\n%s", version, grepLines(o.p.out.String(), "EAP-TLS|lease"))
			}
			if l := sw.Log(); !strings.Contains(l, "EAP method EAP_TLS succeeded, MSK established") {
				t.Fatalf("charon did not establish the MSK:\n%s", grepLines(l, `(?i)eap|tls|auth`))
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				if out, _ := tp.left.ns.run("ip", "-o", "addr"); strings.Contains(out, xaFirstVIP) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("charon did not install the virtual IP")
				}
				time.Sleep(100 * time.Millisecond)
			}
			mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
			for _, sa := range o.mustIKEStatus(t).allSAs() {
				if sa.Packets == 0 {
					t.Fatalf("oakley's %s SA counted no packets", sa.Dir)
				}
			}
		})
	}
}

// TestInteropEAPTLSOakleyPair: an oakley EAP-TLS client of an oakley gateway through the
// daemons (TLS 1.3, which both offer): login, lease for the EAP identity, a ping from the
// virtual IP; then a client whose certificate another CA issued, refused on both sides.
func TestInteropEAPTLSOakleyPair(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, tc := range []string{"login", "untrusted-cert"} {
		t.Run(tc, func(t *testing.T) {
			tp := newTopo(t, false)
			p := newTestPKI(t, "ecdsa")
			client := p
			if tc == "untrusted-cert" {
				client = newTestPKI(t, "ecdsa")
			}
			g := startIKE(t, tp.right, "gateway", oakleyEAPTLSGateway(tp, p))
			site := oakleyEAPTLSClient(tp, p, client)
			site.Children[0].RemoteTS = []string{tp.right.net}
			c := startIKE(t, tp.left, "client", site)
			t0 := time.Now()
			out, err := c.ctl("initiate", site.connName()+"/net")
			took := time.Since(t0)
			if tc == "untrusted-cert" {
				if err == nil {
					t.Fatalf("oakley initiate succeeded with an untrusted client certificate:\n%s", out)
				}
				waitLog(t, c, "EAP-TLS handshake failed: remote error: tls: bad certificate", 10*time.Second)
				waitLog(t, g, "peer TLS certificate not accepted", 10*time.Second)
				deadline := time.Now().Add(40 * time.Second)
				for name, o := range map[string]*oakley{"client": c, "gateway": g} {
					for {
						st := o.mustIKEStatus(t)
						if st.established() == 0 && len(st.allSAs()) == 0 && st.IKECounters["auth_failures"] == 1 {
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("%s after a refused login: %d established, %d child SAs, auth_failures %d", name, st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("oakley initiate: %v\n%s", err, out)
			}
			waitChildUp(t, c, 10*time.Second)
			waitChildUp(t, g, 10*time.Second)
			recordResult(t, "IKEv2 EAP-TLS (TLS 1.3): oakley client of an oakley gateway through the daemons: %s from `oakley initiate` to the child SA installed", took.Round(time.Millisecond))
			if vips := ikeVIPs(t, c); len(vips) != 1 || vips[0] != xaFirstVIP {
				t.Fatalf("client virtual IPs %v, want [%s]", vips, xaFirstVIP)
			}
			for name, o := range map[string]*oakley{"client": c, "gateway": g} {
				if !o.p.logged(`"tls": "TLS 1.3"`) {
					t.Fatalf("%s did not log TLS 1.3:\n%s", name, grepLines(o.p.out.String(), "EAP-TLS"))
				}
			}
			if !g.p.logged("eap:" + leftID) {
				t.Fatal("the gateway's lease is not for the EAP identity")
			}
			mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
		})
	}
}

// keyKind names the certificates' keys of a test case.
func keyKind(tc string) string {
	if tc == "login-rsa" {
		return "RSA"
	}
	return "ECDSA"
}

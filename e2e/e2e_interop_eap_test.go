//go:build linux

package e2e

// IKEv2 EAP-MSCHAPv2 against strongSwan (issue 11): oakley as the EAP client of a charon
// gateway (charon proves itself with its certificate, asks for the EAP identity, runs
// MS-CHAPv2 against its eap secret, leases a virtual IP), and a charon EAP client of an
// oakley gateway ([[user]], [[pool]]). Traffic flows from the virtual IP; a wrong password is
// refused, clearly, on both sides.

import (
	"strings"
	"testing"
	"time"

	"oakley/e2e/lab"
)

// startSwanEAP starts charon with a swanctl.conf, files, and the EAP plugins.
func startSwanEAP(t *testing.T, side *ioSide, name, conf string, files map[string][]byte) *swan {
	t.Helper()
	l, err := lab.New("oke")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	l.CharonExtra = []string{"attr", "eap-identity", "eap-mschapv2"}
	if out, err := side.ns.run("ip", "addr", "replace", side.host+"/32", "dev", "lo"); err != nil {
		t.Fatalf("ip addr replace %s dev lo: %v\n%s", side.host, err, out)
	}
	c, err := l.StartCharon(string(side.ns), name, conf, files, "ike=2 cfg=2 knl=1 net=1 enc=1")
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

// swanEAPGateway is charon's EAP-MSCHAPv2 gateway (right): its certificate, eap_id = %any
// (EAP-Identity first), the user alice, a pool.
func swanEAPGateway(tp *ioTopo, password string) string {
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
      auth = eap-mschapv2
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
secrets {
  eap-alice {
    id = ` + xaUser + `
    secret = "` + password + `"
  }
}
`
}

// swanEAPClient is charon as an EAP-MSCHAPv2 client (left) of user asking for a virtual IP.
func swanEAPClient(tp *ioTopo, user, password string) string {
	l, r := tp.left, tp.right
	return `connections {
  gw {
    version = 2
    proposals = aes128gcm16-prfsha256-ecp256
    local_addrs = ` + l.outer + `
    remote_addrs = ` + r.seen + `
    vips = 0.0.0.0
    local {
      auth = eap-mschapv2
      id = ` + leftID + `
      eap_id = ` + user + `
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
secrets {
  eap-user {
    id = ` + user + `
    secret = "` + password + `"
  }
}
`
}

// oakleyEAPClient is oakley's EAP client configuration (left): the CA to verify the
// gateway, eap_id and password_file, vips.
func oakleyEAPClient(tp *ioTopo, p *testPKI, password string) ikeSite {
	site := siteFor(tp, tp.left, "")
	site.Version = 2
	site.Addresses = nil
	site.Proposals = []string{"aes128gcm16-prfsha256-ecp256"}
	site.Auth, site.CACerts = "pubkey", []string{"ca.pem"}
	site.VIPs = []string{"0.0.0.0"}
	site.Children[0].LocalTS = nil
	site.Children[0].ESP = []string{"aes128gcm16"}
	site.ConnExtra = `eap = "mschapv2"
eap_id = "` + xaUser + `"
password_file = "alice.pass"`
	site.Files = map[string][]byte{"alice.pass": []byte(password + "\n"), "ca.pem": p.caPEM}
	return site
}

// oakleyEAPGateway is oakley's EAP gateway configuration (right): its certificate, the user
// alice, a pool.
func oakleyEAPGateway(tp *ioTopo, p *testPKI, password string) ikeSite {
	site := siteFor(tp, tp.right, "")
	site.Version = 2
	site.RemoteID = "%any"
	site.Proposals = []string{"aes128gcm16-prfsha256-ecp256"}
	site.Auth, site.Cert, site.Key = "pubkey", "right.pem", "right.key"
	site.Children[0].RemoteTS = []string{xaPoolNet}
	site.Children[0].ESP = []string{"aes128gcm16"}
	site.ConnExtra = `eap = "mschapv2"
pools = ["rw"]`
	site.TopExtra = `[[pool]]
name = "rw"
addrs = "` + xaPool + `"
dns = ["198.51.100.53"]

[[user]]
name = "bob"
password_file = "bob.pass"

[[user]]
name = "` + xaUser + `"
password_file = "alice.pass"`
	site.Files = map[string][]byte{"alice.pass": []byte(password + "\n"), "bob.pass": []byte("pw-bob-" + password + "\n"),
		"right.pem": p.rightCert, "right.key": p.rightKey}
	return site
}

// TestInteropEAPClient: oakley logs in to a charon EAP-MSCHAPv2 gateway, gets a virtual IP
// on its TUN and pings the inside from it. Negative control: a wrong password is refused
// (charon's EAP-Failure, oakley's clear error, auth_failures, no SA).
func TestInteropEAPClient(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, wrong := range []bool{false, true} {
		t.Run(map[bool]string{false: "login", true: "wrong-password"}[wrong], func(t *testing.T) {
			tp := newTopo(t, false)
			p := newTestPKI(t, "ecdsa")
			password := "pw-" + randomID(t, 16)
			swFiles := map[string][]byte{"x509ca/ca.pem": p.caPEM, "x509/right.pem": p.rightCert, "private/right.key": p.rightKey}
			sw := startSwanEAP(t, tp.right, "gateway", swanEAPGateway(tp, password), swFiles)
			ours := password
			if wrong {
				ours = "pw-wrong-" + randomID(t, 8)
			}
			site := oakleyEAPClient(tp, p, ours)
			o := startIKE(t, tp.left, "client", site)
			t0 := time.Now()
			out, err := o.ctl("initiate", site.connName()+"/net")
			took := time.Since(t0)
			if wrong {
				if err == nil {
					t.Fatalf("oakley initiate succeeded with a wrong EAP password:\n%s", out)
				}
				t.Logf("oakley initiate: %v: %s", err, strings.TrimSpace(out))
				waitLog(t, o, "refused our EAP login", 10*time.Second)
				if l := sw.Log(); !strings.Contains(l, "EAP_MSCHAPV2 failed") && !strings.Contains(l, "EAP-MS-CHAPv2 verification failed") {
					t.Fatalf("charon does not say the login failed:\n%s", grepLines(l, `(?i)eap|mschap`))
				}
				if st := o.mustIKEStatus(t); st.established() != 0 || len(st.allSAs()) != 0 || st.IKECounters["auth_failures"] == 0 {
					t.Fatalf("after a refused login: %d IKE SAs, %d child SAs, auth_failures %d", st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
				}
				assertNoSecrets(t, "oakley's log", o.p.out.String(), []string{ours})
				return
			}
			if err != nil {
				t.Fatalf("oakley initiate: %v\n%s", err, out)
			}
			st := waitChildUp(t, o, 10*time.Second)
			recordResult(t, "IKEv2 EAP-MSCHAPv2 client of strongSwan (gateway certificate, EAP-Identity, virtual IP): %s from `oakley initiate` to the child SA installed", took.Round(time.Millisecond))
			ike := st.Connections[0].IKESAs[0]
			if !strings.HasPrefix(ike.Auth, "EAP-MSCHAPv2 "+xaUser) {
				t.Fatalf("oakley's IKE SA auth %q", ike.Auth)
			}
			if len(ike.VirtualIPs) != 1 || ike.VirtualIPs[0] != xaFirstVIP {
				t.Fatalf("oakley status virtual IPs %v, want [%s]:\n%s", ike.VirtualIPs, xaFirstVIP, st.raw)
			}
			if l := sw.Log(); !strings.Contains(l, "EAP method EAP_MSCHAPV2 succeeded, MSK established") {
				t.Fatalf("charon did not establish the MSK:\n%s", grepLines(l, `(?i)eap|mschap|auth`))
			}
			mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
			sas := sw.listSAs(t)
			if len(sas) != 1 || sas[0].Fields["state"] != "ESTABLISHED" || len(sas[0].Children) != 1 || sas[0].Children[0]["packets-in"] == "0" {
				t.Fatalf("charon's SAs: %+v", sas)
			}
			assertNoSecrets(t, "oakley's log", o.p.out.String(), []string{password})
		})
	}
}

// TestInteropEAPGateway: a charon EAP-MSCHAPv2 client logs in to an oakley gateway as
// alice, gets the pool's first address (leased for the EAP identity) and pings the inside.
// Negative controls: a wrong password and an unknown user are refused (MS-CHAPv2 Failure,
// charon's AUTHENTICATION_FAILED, auth_failures, no SA, no lease).
func TestInteropEAPGateway(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, tc := range []string{"login", "wrong-password", "unknown-user"} {
		t.Run(tc, func(t *testing.T) {
			wrong := tc != "login"
			tp := newTopo(t, false)
			p := newTestPKI(t, "ecdsa")
			password := "pw-" + randomID(t, 16)
			o := startIKE(t, tp.right, "gateway", oakleyEAPGateway(tp, p, password))
			theirs, user := password, xaUser
			switch tc {
			case "wrong-password":
				theirs = "pw-wrong-" + randomID(t, 8)
			case "unknown-user":
				user = "mallory"
			}
			sw := startSwanEAP(t, tp.left, "client", swanEAPClient(tp, user, theirs), map[string][]byte{"x509ca/ca.pem": p.caPEM})
			t0 := time.Now()
			out, err := sw.Swanctl("--initiate", "--child", "net", "--timeout", "30")
			took := time.Since(t0)
			if wrong {
				if err == nil {
					t.Fatalf("swanctl --initiate succeeded with a wrong password:\n%s", out)
				}
				why := map[string]string{"wrong-password": "wrong password for", "unknown-user": "unknown user"}[tc]
				waitLog(t, o, why+` \"`+user+`\"`, 10*time.Second)
				if l := sw.Log(); !strings.Contains(l, "EAP-MS-CHAPv2 failed with error ERROR_AUTHENTICATION_FAILURE") {
					t.Fatalf("charon does not say the login failed:\n%s", grepLines(l, `(?i)eap|mschap|AUTHENTICATION_FAILED`))
				}
				// charon answers MS-CHAPv2 Failure with AUTHENTICATION_FAILED in an INFORMATIONAL,
				// which ends oakley's half-made IKE SA.
				deadline := time.Now().Add(5 * time.Second)
				for {
					st := o.mustIKEStatus(t)
					if st.established() == 0 && len(st.allSAs()) == 0 && len(st.Connections[0].IKESAs) == 0 && st.IKECounters["auth_failures"] == 1 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("after a refused login: %d IKE SAs (%d established), %d child SAs, auth_failures %d", len(st.Connections[0].IKESAs), st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
					}
					time.Sleep(50 * time.Millisecond)
				}
				assertNoSecrets(t, "oakley's log", o.p.out.String(), []string{theirs, password})
				return
			}
			if err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, out)
			}
			st := waitChildUp(t, o, 10*time.Second)
			recordResult(t, "strongSwan EAP-MSCHAPv2 client of an oakley gateway (certificate, EAP-Identity, virtual IP): %s for `swanctl --initiate`", took.Round(time.Millisecond))
			ike := st.Connections[0].IKESAs[0]
			if len(ike.VirtualIPs) != 1 || ike.VirtualIPs[0] != xaFirstVIP || !strings.Contains(ike.Auth, "peer EAP-MSCHAPv2 "+xaUser) {
				t.Fatalf("oakley status: virtual IPs %v, auth %q:\n%s", ike.VirtualIPs, ike.Auth, st.raw)
			}
			if !o.p.logged("eap:" + xaUser) {
				t.Fatal("oakley's lease is not for the EAP identity")
			}
			if l := sw.Log(); !strings.Contains(l, "EAP method EAP_MSCHAPV2 succeeded, MSK established") {
				t.Fatalf("charon did not establish the MSK:\n%s", grepLines(l, `(?i)eap|mschap|auth`))
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
			assertNoSecrets(t, "oakley's log", o.p.out.String(), []string{password})
		})
	}
}

// TestEAPOakleyPair: an oakley EAP-MSCHAPv2 client of an oakley gateway through the daemons:
// login, lease for the EAP identity, a ping from the virtual IP; then the same client with a
// wrong password, refused on both sides.
func TestEAPOakleyPair(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, wrong := range []bool{false, true} {
		t.Run(map[bool]string{false: "login", true: "wrong-password"}[wrong], func(t *testing.T) {
			tp := newTopo(t, false)
			p := newTestPKI(t, "ecdsa")
			password := "pw-" + randomID(t, 16)
			g := startIKE(t, tp.right, "gateway", oakleyEAPGateway(tp, p, password))
			ours := password
			if wrong {
				ours = "pw-wrong-" + randomID(t, 8)
			}
			site := oakleyEAPClient(tp, p, ours)
			site.Children[0].RemoteTS = []string{tp.right.net}
			c := startIKE(t, tp.left, "client", site)
			t0 := time.Now()
			out, err := c.ctl("initiate", site.connName()+"/net")
			took := time.Since(t0)
			if wrong {
				if err == nil {
					t.Fatalf("oakley initiate succeeded with a wrong password:\n%s", out)
				}
				waitLog(t, c, "refused our EAP login", 10*time.Second)
				waitLog(t, g, `wrong password for \"`+xaUser+`\"`, 10*time.Second)
				for name, o := range map[string]*oakley{"client": c, "gateway": g} {
					st := o.mustIKEStatus(t)
					if st.established() != 0 || len(st.allSAs()) != 0 || st.IKECounters["auth_failures"] != 1 {
						t.Fatalf("%s after a refused login: %d established, %d child SAs, auth_failures %d", name, st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
					}
					assertNoSecrets(t, name+"'s log", o.p.out.String(), []string{ours, password})
				}
				return
			}
			if err != nil {
				t.Fatalf("oakley initiate: %v\n%s", err, out)
			}
			waitChildUp(t, c, 10*time.Second)
			waitChildUp(t, g, 10*time.Second)
			recordResult(t, "IKEv2 EAP-MSCHAPv2: oakley client of an oakley gateway through the daemons: %s from `oakley initiate` to the child SA installed", took.Round(time.Millisecond))
			if vips := ikeVIPs(t, c); len(vips) != 1 || vips[0] != xaFirstVIP {
				t.Fatalf("client virtual IPs %v, want [%s]", vips, xaFirstVIP)
			}
			if !g.p.logged("eap:" + xaUser) {
				t.Fatal("the gateway's lease is not for the EAP identity")
			}
			mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
			assertNoSecrets(t, "client's log", c.p.out.String(), []string{password})
			assertNoSecrets(t, "gateway's log", g.p.out.String(), []string{password})
		})
	}
}

//go:build linux

package e2e

// Remote access with IKEv1 XAUTH and Mode Config against strongSwan (issue 11): oakley as
// the XAUTH + Mode Config client of a charon gateway (Main Mode PSK round, then an xauth
// round, a pool), and a charon XAUTH client against an oakley gateway with a [[user]] and a
// [[pool]]. The virtual IP must show in `oakley status` and in swanctl, the child SA carry
// traffic from the virtual IP; wrong passwords are refused with a clear error on both sides.
//
// Putting the assigned address on oakley's TUN is the daemon's virtual-IP handling (another
// piece of work): the client test gives the device the address the pool hands out first,
// so that a ping can leave from it.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"oakley/e2e/lab"
)

const (
	xaPool     = "203.0.113.17-203.0.113.30"
	xaFirstVIP = "203.0.113.17"
	xaPoolNet  = "203.0.113.16/28"
	xaUser     = "alice"
)

// startSwanRaw starts charon with a swanctl.conf as written and the remote-access plugins.
func startSwanRaw(t *testing.T, side *ioSide, name, conf string) *swan {
	return startSwanRawFiles(t, side, name, conf, nil)
}

// startSwanRawFiles is startSwanRaw with files in the swanctl directory (certificates).
func startSwanRawFiles(t *testing.T, side *ioSide, name, conf string, files map[string][]byte) *swan {
	t.Helper()
	l, err := lab.New("oki")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	l.CharonExtra = []string{"attr", "xauth-generic", "unity"}
	if out, err := side.ns.run("ip", "addr", "replace", side.host+"/32", "dev", "lo"); err != nil {
		t.Fatalf("ip addr replace %s dev lo: %v\n%s", side.host, err, out)
	}
	c, err := l.StartCharon(string(side.ns), name, conf, files, "ike=2 cfg=2 knl=1 net=1 enc=1")
	if err != nil {
		t.Fatalf("starting charon in %s: %v", side.ns, err)
	}
	sw := &swan{Charon: c, side: side}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("charon %s (%s) log:\n%s", name, side.ns, tail(c.Log(), 12000))
		}
	})
	return sw
}

// swanGateway is charon's XAUTH gateway configuration: PSK, then XAUTH, a pool.
func swanGateway(tp *ioTopo, psk, password string, aggressive bool) string {
	return swanGatewayPull(tp, psk, password, aggressive, true)
}

// swanGatewayPull is swanGateway in pull mode (the client asks) or push mode (charon SETs).
func swanGatewayPull(tp *ioTopo, psk, password string, aggressive, pull bool) string {
	r := tp.right
	return `connections {
  rw {
    version = 1
    pull = ` + map[bool]string{true: "yes", false: "no"}[pull] + `
    aggressive = ` + map[bool]string{true: "yes", false: "no"}[aggressive] + `
    proposals = aes256-sha256-modp2048
    local_addrs = ` + r.outer + `
    remote_addrs = %any
    pools = rw
    local {
      auth = psk
      id = ` + rightID + `
    }
    remote {
      auth = psk
      id = ` + leftID + `
    }
    remote-2 {
      auth = xauth
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
    split_include = ` + r.net + `
  }
}
secrets {
  ike-1 {
    id-1 = ` + rightID + `
    id-2 = ` + leftID + `
    secret = "` + psk + `"
  }
  xauth-1 {
    id = ` + xaUser + `
    secret = "` + password + `"
  }
}
`
}

// swanXAUTHClient is charon as an XAUTH client requesting a virtual IP.
func swanXAUTHClient(tp *ioTopo, psk, password string) string {
	l, r := tp.left, tp.right
	return `connections {
  gw {
    version = 1
    proposals = aes256-sha256-modp2048
    local_addrs = ` + l.outer + `
    remote_addrs = ` + r.seen + `
    vips = 0.0.0.0
    local {
      auth = psk
      id = ` + leftID + `
    }
    local-2 {
      auth = xauth
      xauth_id = ` + xaUser + `
    }
    remote {
      auth = psk
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
  ike-1 {
    id-1 = ` + leftID + `
    id-2 = ` + rightID + `
    secret = "` + psk + `"
  }
  xauth-1 {
    id = ` + xaUser + `
    secret = "` + password + `"
  }
}
`
}

// oakleyXAUTHClient is oakley's client configuration (left).
func oakleyXAUTHClient(tp *ioTopo, psk, password string, aggressive bool) ikeSite {
	site := siteFor(tp, tp.left, psk)
	site.Aggressive, site.Insecure = aggressive, aggressive
	site.Proposals = []string{"aes256-sha256-modp2048"}
	site.Addresses = []string{xaFirstVIP + "/32"}
	site.Children[0].LocalTS = []string{xaPoolNet}
	site.Children[0].ESP = []string{"aes128gcm16"}
	site.ConnExtra = `xauth = "client"
xauth_id = "` + xaUser + `"
password_file = "alice.pass"
vips = ["0.0.0.0"]`
	site.Files = map[string][]byte{"alice.pass": []byte(password + "\n")}
	return site
}

// oakleyXAUTHGateway is oakley's gateway configuration (right).
func oakleyXAUTHGateway(tp *ioTopo, psk, password string) ikeSite {
	site := siteFor(tp, tp.right, psk)
	site.Proposals = []string{"aes256-sha256-modp2048"}
	site.Children[0].RemoteTS = []string{xaPoolNet}
	site.Children[0].ESP = []string{"aes128gcm16"}
	site.ConnExtra = `xauth = "server"
pools = ["rw"]`
	site.TopExtra = `[[pool]]
name = "rw"
addrs = "` + xaPool + `"
dns = ["198.51.100.53"]
split = ["` + tp.right.net + `"]

[[user]]
name = "` + xaUser + `"
password_file = "alice.pass"`
	site.Files = map[string][]byte{"alice.pass": []byte(password + "\n")}
	return site
}

// ikeVIPs returns the virtual IPs `oakley status --json` shows for the established SA.
func ikeVIPs(t *testing.T, o *oakley) []string {
	t.Helper()
	st, _, err := statusJSON[struct {
		Connections []struct {
			IKESAs []struct {
				State      string   `json:"state"`
				VirtualIPs []string `json:"virtual_ips"`
			} `json:"ike_sas"`
		} `json:"connections"`
	}](o)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Connections {
		for _, s := range c.IKESAs {
			if s.State == "established" {
				return s.VirtualIPs
			}
		}
	}
	return nil
}

// TestInteropXAUTHClient: oakley logs in to a charon gateway and gets a virtual IP.
func TestInteropXAUTHClient(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, aggressive := range []bool{false, true} {
		mode := map[bool]string{false: "Main Mode", true: "Aggressive Mode"}[aggressive]
		t.Run(strings.ReplaceAll(mode, " ", ""), func(t *testing.T) {
			tp := newTopo(t, false)
			psk, password := newPSK(t), "pw-"+randomID(t, 16)
			sw := startSwanRaw(t, tp.right, "gateway", swanGateway(tp, psk, password, aggressive))
			site := oakleyXAUTHClient(tp, psk, password, aggressive)
			o := startIKE(t, tp.left, "client", site)
			t0 := time.Now()
			o.mustCtl(t, "initiate", site.connName()+"/net")
			took := time.Since(t0)
			st := waitChildUp(t, o, 10*time.Second)
			recordResult(t, "XAUTH + Mode Config client of strongSwan (%s PSK, pull): %s from `oakley initiate` to the child SA installed", mode, took.Round(time.Millisecond))

			if vips := ikeVIPs(t, o); len(vips) != 1 || vips[0] != xaFirstVIP {
				t.Fatalf("oakley status virtual_ips %v, want [%s]:\n%s", vips, xaFirstVIP, st.raw)
			}
			ch := st.Connections[0].Children[0]
			if len(ch.LocalTS) != 1 || ch.LocalTS[0] != xaFirstVIP+"/32" {
				t.Fatalf("child local_ts %v, want the virtual IP", ch.LocalTS)
			}
			// The pool's DNS server and Cisco Unity split network reached the client.
			got := grepLines(o.p.out.String(), `virtual IPs assigned`)
			if !strings.Contains(got, `"dns": ["198.51.100.53"]`) || !strings.Contains(got, `"split": ["`+tp.right.net+`"]`) {
				t.Fatalf("oakley's log of the assignment lacks the DNS server or the split network:\n%s", got)
			}
			mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
			sas := sw.listSAs(t)
			if len(sas) != 1 || sas[0].Fields["state"] != "ESTABLISHED" || len(sas[0].Children) != 1 || sas[0].Children[0]["state"] != "INSTALLED" {
				t.Fatalf("charon's SAs: %+v", sas)
			}
			if c := sas[0].Children[0]; c["packets-in"] == "" || c["packets-in"] == "0" {
				t.Fatalf("charon's child counted no packets: %v", c)
			}
			if !strings.Contains(sw.swanctl(t, "--list-pools", "--leases"), xaFirstVIP) {
				t.Fatal("charon's pool does not list the lease")
			}
			assertNoSecrets(t, "oakley's log", o.p.out.String(), []string{password, psk})
		})
	}
	t.Run("RSA", func(t *testing.T) {
		// XAUTHInitRSA: certificates in Main Mode, then the login.
		tp := newTopo(t, false)
		password := "pw-" + randomID(t, 16)
		site := oakleyXAUTHClient(tp, "", password, false)
		var w swanConf
		useCerts(t, &site, &w, "rsa")
		site.Files["alice.pass"] = []byte(password + "\n")
		conf := swanGateway(tp, "unused", password, false)
		conf = strings.Replace(conf, "    local {\n      auth = psk\n", "    local {\n      auth = pubkey\n      certs = right.pem\n", 1)
		conf = strings.Replace(conf, "    remote {\n      auth = psk\n", "    remote {\n      auth = pubkey\n", 1)
		sw := startSwanRawFiles(t, tp.right, "gateway", conf, w.Files)
		o := startIKE(t, tp.left, "client", site)
		t0 := time.Now()
		o.mustCtl(t, "initiate", site.connName()+"/net")
		took := time.Since(t0)
		st := waitChildUp(t, o, 10*time.Second)
		recordResult(t, "XAUTH + Mode Config client of strongSwan (Main Mode RSA signatures, XAUTHInitRSA, pull): %s from `oakley initiate` to the child SA installed", took.Round(time.Millisecond))
		if vips := ikeVIPs(t, o); len(vips) != 1 || vips[0] != xaFirstVIP {
			t.Fatalf("oakley status virtual_ips %v, want [%s]:\n%s", vips, xaFirstVIP, st.raw)
		}
		if a := st.Connections[0].IKESAs[0].Auth; a != "XAUTHInitRSA" {
			t.Fatalf("oakley's IKE SA auth %q, want XAUTHInitRSA", a)
		}
		if sas := sw.listSAs(t); len(sas) != 1 || len(sas[0].Children) != 1 {
			t.Fatalf("charon's SAs: %+v", sas)
		}
		mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 2)
	})
	t.Run("push", func(t *testing.T) {
		// pull = no: charon SETs the address after XAUTH, oakley ACKs.
		tp := newTopo(t, false)
		psk, password := newPSK(t), "pw-"+randomID(t, 16)
		startSwanRaw(t, tp.right, "gateway", swanGatewayPull(tp, psk, password, false, false))
		site := oakleyXAUTHClient(tp, psk, password, false)
		o := startIKE(t, tp.left, "client", site)
		t0 := time.Now()
		o.mustCtl(t, "initiate", site.connName()+"/net")
		took := time.Since(t0)
		waitChildUp(t, o, 10*time.Second)
		recordResult(t, "XAUTH + Mode Config client of strongSwan (Main Mode PSK, push): %s from `oakley initiate` to the child SA installed", took.Round(time.Millisecond))
		if vips := ikeVIPs(t, o); len(vips) != 1 || vips[0] != xaFirstVIP {
			t.Fatalf("oakley status virtual_ips %v, want [%s]", vips, xaFirstVIP)
		}
		if !o.p.logged("ISAKMP_CFG_SET") && !o.p.logged("Mode Config") {
			t.Fatal("no Mode Config in oakley's log")
		}
		mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 2)
	})
	t.Run("wrong-password", func(t *testing.T) {
		tp := newTopo(t, false)
		psk := newPSK(t)
		sw := startSwanRaw(t, tp.right, "gateway", swanGateway(tp, psk, "pw-"+randomID(t, 16), false))
		wrong := "pw-wrong-" + randomID(t, 8)
		site := oakleyXAUTHClient(tp, psk, wrong, false)
		o := startIKE(t, tp.left, "client", site)
		out, err := o.ctl("initiate", site.connName()+"/net")
		if err == nil {
			t.Fatalf("oakley initiate succeeded with a wrong XAUTH password:\n%s", out)
		}
		t.Logf("oakley initiate: %v: %s", err, strings.TrimSpace(out))
		waitLog(t, o, "XAUTH: the gateway refused our login", 10*time.Second)
		if !strings.Contains(sw.Log(), "XAuth authentication of '"+xaUser+"' failed") {
			t.Fatalf("charon does not say the login failed:\n%s", grepLines(sw.Log(), `(?i)xauth`))
		}
		if st := o.mustIKEStatus(t); st.established() != 0 || len(st.allSAs()) != 0 || st.IKECounters["auth_failures"] == 0 {
			t.Fatalf("after a refused login: %d IKE SAs, %d child SAs, auth_failures %d", st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
		}
		assertNoSecrets(t, "oakley's log", o.p.out.String(), []string{wrong, psk})
	})
}

// TestInteropXAUTHGateway: a charon client logs in to oakley and gets an address of its
// pool.
func TestInteropXAUTHGateway(t *testing.T) {
	needInterop(t)
	t.Parallel()
	t.Run("login", func(t *testing.T) {
		tp := newTopo(t, false)
		psk, password := newPSK(t), "pw-"+randomID(t, 16)
		o := startIKE(t, tp.right, "gateway", oakleyXAUTHGateway(tp, psk, password))
		sw := startSwanRaw(t, tp.left, "client", swanXAUTHClient(tp, psk, password))
		t0 := time.Now()
		sw.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
		took := time.Since(t0)
		st := waitChildUp(t, o, 10*time.Second)
		recordResult(t, "strongSwan XAUTH + Mode Config client of an oakley gateway (Main Mode PSK, pull): %s for `swanctl --initiate`", took.Round(time.Millisecond))
		if vips := ikeVIPs(t, o); len(vips) != 1 || vips[0] != xaFirstVIP {
			t.Fatalf("oakley status virtual_ips %v, want [%s]:\n%s", vips, xaFirstVIP, st.raw)
		}
		ch := st.Connections[0].Children[0]
		if len(ch.RemoteTS) != 1 || ch.RemoteTS[0] != xaFirstVIP+"/32" {
			t.Fatalf("child remote_ts %v, want the lease", ch.RemoteTS)
		}
		raw := sw.swanctl(t, "--list-sas", "--raw")
		if !strings.Contains(raw, xaFirstVIP) {
			t.Fatalf("charon does not list the virtual IP:\n%s", raw)
		}
		// charon puts the virtual IP on its libipsec device: ping from it.
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
		st = o.mustIKEStatus(t)
		for _, sa := range st.allSAs() {
			if sa.Packets == 0 {
				t.Fatalf("oakley's %s SA counted no packets", sa.Dir)
			}
		}
		if !o.p.logged("XAUTH: login accepted") {
			t.Fatal("oakley's log does not record the login")
		}
		assertNoSecrets(t, "oakley's log", o.p.out.String(), []string{password, psk})
	})
	t.Run("push", func(t *testing.T) {
		// charon with pull = no waits for oakley's CFG_SET.
		tp := newTopo(t, false)
		psk, password := newPSK(t), "pw-"+randomID(t, 16)
		o := startIKE(t, tp.right, "gateway", oakleyXAUTHGateway(tp, psk, password))
		conf := strings.Replace(swanXAUTHClient(tp, psk, password), "    vips = 0.0.0.0\n", "    vips = 0.0.0.0\n    pull = no\n", 1)
		sw := startSwanRaw(t, tp.left, "client", conf)
		t0 := time.Now()
		sw.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
		took := time.Since(t0)
		waitChildUp(t, o, 10*time.Second)
		recordResult(t, "strongSwan XAUTH + Mode Config client (pull = no) of an oakley gateway (push after %s): %s for `swanctl --initiate`", "1s", took.Round(time.Millisecond))
		if vips := ikeVIPs(t, o); len(vips) != 1 || vips[0] != xaFirstVIP {
			t.Fatalf("oakley status virtual_ips %v, want [%s]", vips, xaFirstVIP)
		}
		waitLog(t, o, "the client acknowledged the pushed configuration", 5*time.Second)
		// charon's unity plugin took the pushed split network (our 14-byte Cisco form).
		if l := sw.Log(); !strings.Contains(l, "processing UNITY_SPLIT_INCLUDE attribute") || strings.Contains(l, "handling UNITY_SPLIT_INCLUDE attribute failed") {
			t.Fatalf("charon did not take the split network:\n%s", grepLines(l, `(?i)unity|attribute`))
		}
		if raw := sw.swanctl(t, "--list-sas", "--raw"); !strings.Contains(raw, xaFirstVIP) {
			t.Fatalf("charon does not list the virtual IP:\n%s", raw)
		}
	})
	t.Run("RSA", func(t *testing.T) {
		tp := newTopo(t, false)
		password := "pw-" + randomID(t, 16)
		p := newTestPKI(t, "rsa")
		site := oakleyXAUTHGateway(tp, "", password)
		site.Auth, site.Cert, site.Key, site.CACerts = "pubkey", "right.pem", "right.key", []string{"ca.pem"}
		site.Files["right.pem"], site.Files["right.key"], site.Files["ca.pem"] = p.rightCert, p.rightKey, p.caPEM
		o := startIKE(t, tp.right, "gateway", site)
		conf := swanXAUTHClient(tp, "unused", password)
		conf = strings.Replace(conf, "    local {\n      auth = psk\n", "    local {\n      auth = pubkey\n      certs = left.pem\n", 1)
		conf = strings.Replace(conf, "    remote {\n      auth = psk\n", "    remote {\n      auth = pubkey\n", 1)
		sw := startSwanRawFiles(t, tp.left, "client", conf, map[string][]byte{"x509ca/ca.pem": p.caPEM, "x509/left.pem": p.leftCert, "private/left.key": p.leftKey})
		t0 := time.Now()
		sw.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
		took := time.Since(t0)
		st := waitChildUp(t, o, 10*time.Second)
		recordResult(t, "strongSwan XAUTH + Mode Config client of an oakley gateway (Main Mode RSA signatures, XAUTHInitRSA, pull): %s for `swanctl --initiate`", took.Round(time.Millisecond))
		if a := st.Connections[0].IKESAs[0].Auth; a != "XAUTHInitRSA" {
			t.Fatalf("oakley's IKE SA auth %q, want XAUTHInitRSA", a)
		}
		if vips := ikeVIPs(t, o); len(vips) != 1 || vips[0] != xaFirstVIP {
			t.Fatalf("oakley status virtual_ips %v, want [%s]:\n%s", vips, xaFirstVIP, st.raw)
		}
	})
	t.Run("wrong-password", func(t *testing.T) {
		tp := newTopo(t, false)
		psk, password := newPSK(t), "pw-"+randomID(t, 16)
		o := startIKE(t, tp.right, "gateway", oakleyXAUTHGateway(tp, psk, password))
		wrong := "pw-wrong-" + randomID(t, 8)
		sw := startSwanRaw(t, tp.left, "client", swanXAUTHClient(tp, psk, wrong))
		out, err := sw.Swanctl("--initiate", "--child", "net", "--timeout", "30")
		if err == nil {
			t.Fatalf("swanctl --initiate succeeded with a wrong password:\n%s", out)
		}
		waitLog(t, o, "XAUTH: login refused", 10*time.Second)
		if !strings.Contains(sw.Log(), "XAuth authentication of '"+xaUser+"' (myself) failed") {
			t.Fatalf("charon does not say the login failed:\n%s", grepLines(sw.Log(), `(?i)xauth`))
		}
		st := o.mustIKEStatus(t)
		if st.established() != 0 || len(st.allSAs()) != 0 || st.IKECounters["auth_failures"] == 0 {
			t.Fatalf("after a refused login: %d IKE SAs, %d child SAs, auth_failures %d", st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
		}
		assertNoSecrets(t, "oakley's log", o.p.out.String(), []string{wrong, password, psk})
	})
}

// waitLog waits until oakley's log contains s.
func waitLog(t *testing.T, o *oakley, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(o.p.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("oakley %s did not log %q within %s", o.name, s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestXAUTHOakleyPair: oakley against oakley through the daemons, the gateway and client
// configurations of the examples (addresses adapted): login, lease, traffic from the virtual
// IP; then the same client with a wrong password.
func TestXAUTHOakleyPair(t *testing.T) {
	needInterop(t)
	t.Parallel()
	for _, wrong := range []bool{false, true} {
		t.Run(map[bool]string{false: "login", true: "wrong-password"}[wrong], func(t *testing.T) {
			tp := newTopo(t, false)
			psk, password := newPSK(t), "pw-"+randomID(t, 16)
			gs := oakleyXAUTHGateway(tp, psk, password)
			gs.RemoteAddr, gs.RemoteID = "%any", "%any" // as examples/xauth-gateway.toml
			gw := startIKE(t, tp.right, "gateway", gs)
			clientPW := password
			if wrong {
				clientPW = "pw-wrong-" + randomID(t, 8)
			}
			site := oakleyXAUTHClient(tp, psk, clientPW, false)
			o := startIKE(t, tp.left, "client", site)
			t0 := time.Now()
			out, err := o.ctl("initiate", site.connName()+"/net")
			took := time.Since(t0)
			if wrong {
				if err == nil {
					t.Fatalf("oakley initiate succeeded with a wrong password:\n%s", out)
				}
				waitLog(t, gw, "XAUTH: login refused", 10*time.Second)
				waitLog(t, o, "XAUTH: the gateway refused our login", 10*time.Second)
				if st := gw.mustIKEStatus(t); st.established() != 0 || len(st.allSAs()) != 0 {
					t.Fatalf("the gateway kept SAs after a refused login:\n%s", st.raw)
				}
				return
			}
			if err != nil {
				t.Fatalf("oakley initiate: %v\n%s", err, out)
			}
			waitChildUp(t, o, 10*time.Second)
			waitChildUp(t, gw, 10*time.Second)
			recordResult(t, "XAUTH + Mode Config, oakley client of an oakley gateway (Main Mode PSK, pull): %s from `oakley initiate` to the child SA installed", took.Round(time.Millisecond))
			for _, x := range []*oakley{o, gw} {
				if vips := ikeVIPs(t, x); len(vips) != 1 || vips[0] != xaFirstVIP {
					t.Fatalf("oakley %s status virtual_ips %v, want [%s]", x.name, vips, xaFirstVIP)
				}
			}
			mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
			checkGatewayClient(t, gw, xaUser, xaFirstVIP)

			// The client re-authenticates (a new Main Mode, XAUTH and Mode Config beside the
			// old ISAKMP SA): the gateway hands the same address again, and the old SA's
			// death takes it neither from the gateway's pool nor from the client's device.
			if out, err := o.ctl("rekey", site.connName()); err != nil {
				t.Fatalf("oakley rekey: %v\n%s", err, out)
			}
			var st *ikeStatus
			if !waitFor(20*time.Second, func() bool {
				st = o.mustIKEStatus(t)
				return st.IKECounters["ike_reauths"] >= 1 && st.established() == 1 && len(ikeVIPs(t, o)) == 1
			}) {
				t.Fatalf("the client did not end with one re-authenticated ISAKMP SA:\n%s", st.raw)
			}
			time.Sleep(2 * time.Second) // the old SA's Delete and the daemon's withdrawal, if any
			for _, x := range []*oakley{o, gw} {
				if vips := ikeVIPs(t, x); len(vips) != 1 || vips[0] != xaFirstVIP {
					t.Fatalf("after re-authentication, oakley %s status virtual_ips %v, want [%s]", x.name, vips, xaFirstVIP)
				}
			}
			mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
		})
	}
}

// checkGatewayClient: the gateway's status (JSON and text) lists exactly one client, user
// with vip, and traffic both ways.
func checkGatewayClient(t *testing.T, gw *oakley, user, vip string) {
	t.Helper()
	st, raw, err := statusJSON[struct {
		Connections []struct {
			Clients []struct {
				Identity   string   `json:"identity"`
				User       string   `json:"user"`
				VirtualIPs []string `json:"virtual_ips"`
				Since      string   `json:"since"`
				BytesIn    uint64   `json:"bytes_in"`
				BytesOut   uint64   `json:"bytes_out"`
			} `json:"clients"`
		} `json:"connections"`
	}](gw)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range st.Connections {
		for _, cl := range c.Clients {
			n++
			if cl.Identity != user || cl.User != user || len(cl.VirtualIPs) != 1 || cl.VirtualIPs[0] != vip || cl.Since == "" || cl.BytesIn == 0 || cl.BytesOut == 0 {
				t.Fatalf("gateway status client %+v, want %s with %s and traffic both ways", cl, user, vip)
			}
		}
	}
	if n != 1 {
		t.Fatalf("gateway status lists %d clients, want 1:\n%s", n, tail(raw, 2000))
	}
	out, err := runTimeout(10*time.Second, oakleyBin, "status", "-s", gw.spec.Socket)
	if err != nil || !strings.Contains(out, "1 client(s):") || !strings.Contains(out, user+"  "+vip+"  from ") {
		t.Fatalf("gateway text status (%v) lacks the client %s %s:\n%s", err, user, vip, out)
	}
}

// TestXAUTHGatewayReload: `oakley reload` on a gateway changes its [[user]]s and [[pool]]s
// for the next login while a client already connected keeps its address: bob, not yet a
// user, is refused (the control); alice connects; a reload adds bob and moves the pool's
// range; alice's tunnel and address stay; bob then logs in and gets an address of the new
// range. (One client at a time: both run in the left namespace, on its IKE ports.)
func TestXAUTHGatewayReload(t *testing.T) {
	needInterop(t)
	t.Parallel()
	tp := newTopo(t, false)
	psk, alicePW, bobPW := newPSK(t), "pw-"+randomID(t, 16), "pw-"+randomID(t, 16)
	gs := oakleyXAUTHGateway(tp, psk, alicePW)
	gs.RemoteAddr, gs.RemoteID = "%any", "%any"
	gw := startIKE(t, tp.right, "gateway", gs)
	stop := func(o *oakley) {
		o.p.signal(syscall.SIGTERM)
		if !o.p.wait(10 * time.Second) {
			t.Fatalf("oakley %s did not stop", o.name)
		}
		if !waitFor(10*time.Second, func() bool { return gw.mustIKEStatus(t).established() == 0 }) {
			t.Fatalf("the gateway kept %s's SA after its Delete", o.name)
		}
	}
	bobSite := oakleyXAUTHClient(tp, psk, bobPW, false)
	bobSite.ConnExtra = strings.Replace(bobSite.ConnExtra, `xauth_id = "`+xaUser+`"`, `xauth_id = "bob"`, 1)
	bobSite.Addresses = nil

	bob := startIKE(t, tp.left, "bob", bobSite)
	if out, err := bob.ctl("initiate", bob.spec.ConnName+"/net"); err == nil {
		t.Fatalf("bob logged in before he was a user:\n%s", out)
	}
	waitLog(t, gw, "XAUTH: login refused", 10*time.Second)
	stop(bob)

	alice := startIKE(t, tp.left, "alice", oakleyXAUTHClient(tp, psk, alicePW, false))
	alice.mustCtl(t, "initiate", alice.spec.ConnName+"/net")
	waitChildUp(t, alice, 10*time.Second)
	if vips := ikeVIPs(t, alice); len(vips) != 1 || vips[0] != xaFirstVIP {
		t.Fatalf("alice's virtual IPs %v, want [%s]", vips, xaFirstVIP)
	}

	// The reload: bob becomes a user, the pool moves to .24-.30.
	gs.TopExtra = strings.Replace(gs.TopExtra, `addrs = "`+xaPool+`"`, `addrs = "203.0.113.24-203.0.113.30"`, 1) + `

[[user]]
name = "bob"
password_file = "bob.pass"`
	if err := os.WriteFile(filepath.Join(filepath.Dir(gw.cfg), "bob.pass"), []byte(bobPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gw.cfg, []byte(gs.toml(gw.spec.Socket)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runTimeout(30*time.Second, oakleyBin, "reload", "-s", gw.spec.Socket); err != nil {
		t.Fatalf("oakley reload: %v\n%s", err, out)
	}
	if vips := ikeVIPs(t, gw); len(vips) != 1 || vips[0] != xaFirstVIP {
		t.Fatalf("after the reload the gateway shows alice with %v, want [%s]", vips, xaFirstVIP)
	}
	mustPing(t, tp.left.ns, xaFirstVIP, tp.right.host, 3)
	stop(alice)

	bob = startIKE(t, tp.left, "bob2", bobSite)
	if out, err := bob.ctl("initiate", bob.spec.ConnName+"/net"); err != nil {
		t.Fatalf("bob's login after the reload: %v\n%s", err, out)
	}
	waitChildUp(t, bob, 10*time.Second)
	vips := ikeVIPs(t, bob)
	if len(vips) != 1 || vips[0] != "203.0.113.24" {
		t.Fatalf("bob's virtual IPs %v, want [203.0.113.24] (the first address of the reloaded range)", vips)
	}
	mustPing(t, tp.left.ns, vips[0], tp.right.host, 3)
}

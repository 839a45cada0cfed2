//go:build linux

package e2e

// Remote access in netstack mode: oakley on the userspace network stack, as the user nobody
// without capabilities and without device addresses, gets its virtual IP and a DNS server from a strongSwan gateway (IKEv2
// configuration payload, or IKEv1 XAUTH + Mode Config), puts the address on the stack, and
// its SOCKS5 proxy resolves a name that only the pushed server knows, through the tunnel.

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	nsdDNS    = "198.51.100.53" // the pushed DNS server, on lo of the gateway's namespace
	nsdWeb    = "198.51.100.80" // the inside web server
	nsdZone   = "intranet.example"
	nsdSOCKS5 = "127.0.0.1:11080"
	nsdWeb6   = "2001:db8:b::80"   // the inside web server's IPv6 address (dual-stack case)
	nsdPool6  = "2001:db8:2::/120" // charon's IPv6 pool (dual-stack case)
)

// dnsServe is the helper mode "dns-serve ADDR ZONE IP": a DNS server on UDP and TCP ADDR
// answering A queries for ZONE and any name under it with IP, NOERROR without data for
// other types there, NXDOMAIN elsewhere. It prints "listening ADDR" when both sockets are
// bound.
func dnsServe(args []string) int {
	addr, zone, ip := args[0], strings.ToLower(strings.TrimSuffix(args[1], "."))+".", net.ParseIP(args[2]).To4()
	if ip == nil {
		fmt.Fprintln(os.Stderr, "dns-serve: not an IPv4 address:", args[2])
		return 2
	}
	answer := func(query []byte, from net.Addr) []byte {
		var p dnsmessage.Parser
		h, err := p.Start(query)
		if err != nil {
			return nil
		}
		q, err := p.Question()
		if err != nil {
			return nil
		}
		name := strings.ToLower(q.Name.String())
		rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
		inZone := name == zone || strings.HasSuffix(name, "."+zone)
		if !inZone {
			rh.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, rh)
		if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
			return nil
		}
		if inZone && q.Type == dnsmessage.TypeA {
			hdr := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 30}
			if b.AResource(hdr, dnsmessage.AResource{A: [4]byte(ip)}) != nil {
				return nil
			}
		}
		out, err := b.Finish()
		if err != nil {
			return nil
		}
		fmt.Printf("query %s %v from %v\n", name, q.Type, from)
		return out
	}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if pc, err = net.ListenPacket("udp", addr); err == nil {
			if ln, err = net.Listen("tcp", addr); err != nil {
				pc.Close()
			}
		}
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dns-serve:", err)
		return 1
	}
	fmt.Println("listening", addr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				if out := answer(q, c.RemoteAddr()); out != nil {
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...))
				}
			}()
		}
	}()
	buf := make([]byte, 4096)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dns-serve:", err)
			return 1
		}
		if out := answer(buf[:n], from); out != nil {
			pc.WriteTo(out, from)
		}
	}
}

// startDNSServe runs dns-serve in ns and waits until it listens.
func startDNSServe(t *testing.T, ns netns, addr, zone, ip string) *proc {
	t.Helper()
	p := startProc(t, "dns-serve "+addr, helperArgv(t, ns, "dns-serve", addr, zone, ip)...)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.out.String(), "listening") {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("DNS server on %s in %s did not start:\n%s", addr, ns, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// httpGetFails fetches url through the proxy in ns and fails the test if it succeeds; it
// returns the client's error output.
func httpGetFails(t *testing.T, ns netns, url, proxy string) string {
	t.Helper()
	argv := helperArgv(t, ns, "http-get", url, proxy)
	out, err := runTimeout(40*time.Second, argv[0], argv[1:]...)
	if err == nil {
		t.Fatalf("GET %s via %s in %s succeeded (%q); it should have failed", url, proxy, ns, out)
	}
	return out
}

// nsdCase is one case of TestInteropNetstackDNS: the gateway and how oakley logs in.
type nsdCase struct {
	name     string
	v1       bool   // IKEv1 XAUTH + Mode Config (else IKEv2 with a configuration payload)
	noDNS    bool   // the gateway pushes no DNS server
	oakleyGW bool   // an oakley gateway instead of charon
	dual     bool   // IPv4 and IPv6 virtual IPs
	auth     string // charon gateway of another authentication: "xauth-rsa", "eap-mschapv2", "eap-tls" ("" = PSK)
	refused  bool   // a login the gateway refuses (wrong password, untrusted certificate)
}

// nsdCases: the PSK cases (with their negative controls), then the remote-access matrix's
// other authentications, each with the GET by name only; then their refused logins.
var nsdCases = []nsdCase{
	{name: "ikev2-cp"},
	{name: "ikev2-no-dns", noDNS: true},
	{name: "ikev1-xauth", v1: true},
	{name: "ikev1-xauth-oakley-gateway", v1: true, oakleyGW: true},
	{name: "ikev2-dual-stack", dual: true},
	{name: "ikev1-rsa-xauth", v1: true, auth: "xauth-rsa"},
	{name: "ikev2-eap-mschapv2", auth: "eap-mschapv2"},
	{name: "ikev2-eap-tls", auth: "eap-tls"},
	{name: "ikev1-rsa-xauth-wrong-password", v1: true, auth: "xauth-rsa", refused: true},
	{name: "ikev2-eap-mschapv2-wrong-password", auth: "eap-mschapv2", refused: true},
	{name: "ikev2-eap-tls-untrusted-cert", auth: "eap-tls", refused: true},
}

// TestInteropNetstackDNS: oakley (left) on the netstack device, as nobody, with no device
// address, is the remote-access client of charon (right): IKEv2 with a pool and a DNS
// attribute, or IKEv1 XAUTH + Mode Config with the same; and of an oakley XAUTH gateway
// (TUN, a [[pool]] with dns); and dual-stack (IPv4 and IPv6 virtual IPs, an IPv6 target). Inside the gateway's network (lo of its namespace) a
// DNS server knows intranet.example and a web server answers on 198.51.100.80. A GET
// through oakley's SOCKS5 proxy to http://intranet.example:8080/ is resolved with the
// pushed server through the tunnel and answered from inside, from the virtual IP.
// The same GET follows a login to charon with the remote-access issue's other
// authentications: IKEv1 RSA certificates + XAUTH (XAUTHInitRSA), IKEv2 EAP-MSCHAPv2 and
// IKEv2 EAP-TLS (TLS 1.2); a login each of them refuses (a wrong XAUTH or EAP-MSCHAPv2
// password, a client certificate of a CA charon does not trust) fails the initiate, and the
// GET fails, by name and by address.
// Negative controls: a name the server does not know (host unreachable, dns_not_found), the
// server killed (general failure, dns_failures), and a gateway that pushes no DNS server
// (the name fails while the address works); after `oakley terminate` the address is off
// the stack (a GET by address fails).
func TestInteropNetstackDNS(t *testing.T) {
	needInterop(t)
	t.Parallel()
	names := make([]string, len(nsdCases))
	for i, c := range nsdCases {
		names[i] = c.name
	}
	parallelRuns(t, 2, names, func(t *testing.T, i int) {
		tc := nsdCases[i]
		v1, pushDNS, oakleyGW, dual := tc.v1, !tc.noDNS, tc.oakleyGW, tc.dual
		tp := newTopo(t, false)
		for _, a := range []string{nsdDNS, nsdWeb} {
			tp.right.ns.mustRun(t, "ip", "addr", "replace", a+"/32", "dev", "lo")
		}
		token := "inside " + randomID(t, 8)
		serveHTTP(t, tp.right.ns, nsdWeb+":8080", token)
		if dual {
			tp.right.ns.mustRun(t, "ip", "addr", "replace", nsdWeb6+"/128", "dev", "lo")
			serveHTTP(t, tp.right.ns, "["+nsdWeb6+"]:8080", token)
		}
		dns := startDNSServe(t, tp.right.ns, nsdDNS+":53", nsdZone, nsdWeb)
		netstack := func(s *ikeSite) {
			s.Addresses = nil
			s.DevKind = "netstack"
			s.Unprivileged = true
			s.TopExtra += "\n[netstack]\nsocks5 = \"" + nsdSOCKS5 + "\"\n"
		}
		if tc.auth != "" {
			nsdAuthCase(t, tp, tc, netstack, token, dns)
			return
		}
		var o *oakley
		var conn, pool string
		if v1 {
			psk, password := newPSK(t), "pw-"+randomID(t, 16)
			if oakleyGW {
				gs := oakleyXAUTHGateway(tp, psk, password)
				gs.RemoteAddr, gs.RemoteID = "%any", "%any"
				startIKE(t, tp.right, "gateway", gs)
			} else {
				startSwanRaw(t, tp.right, "gateway", swanGateway(tp, psk, password, false))
			}
			site := oakleyXAUTHClient(tp, psk, password, false)
			netstack(&site)
			o = startIKE(t, tp.left, "client", site)
			conn, pool = site.connName(), xaPoolNet
		} else {
			c := v2Case{ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"}
			sp := startV2Pair(t, tp, c, true, func(s *ikeSite, w *swanConf) {
				netstack(s)
				s.VIPs = []string{"0.0.0.0"}
				s.Children[0].LocalTS = nil
				w.Pools = "  rw {\n    addrs = 203.0.113.0/28\n"
				if pushDNS {
					w.Pools += "    dns = " + nsdDNS + "\n"
				}
				w.Pools += "  }\n"
				w.Extra = "    pools = rw\n"
				w.Children[0].RemoteTS = "dynamic"
				if dual {
					s.VIPs = append(s.VIPs, "::")
					s.Children[0].LocalTS = []string{"0.0.0.0/0", "::/0"}
					s.Children[0].RemoteTS = append(s.Children[0].RemoteTS, netB6)
					w.Pools += "  rw6 {\n    addrs = " + nsdPool6 + "\n  }\n"
					w.Extra = "    pools = rw, rw6\n"
					w.Children[0].LocalTS += "," + netB6
				}
			})
			o, conn, pool = sp.o, sp.site.connName(), "203.0.113.0/28"
		}
		nobody, err := user.Lookup("nobody") // asNobody skipped the test without it
		if err != nil {
			t.Fatal(err)
		}
		assertUnprivileged(t, o.p.cmd.Process.Pid, nobody.Uid)
		t0 := time.Now()
		o.mustCtl(t, "initiate", conn+"/net")
		st := waitChildUp(t, o, 20*time.Second)
		vips := ikeVIPs(t, o)
		if dual {
			if len(vips) != 2 || !netip.MustParsePrefix(nsdPool6).Contains(netip.MustParseAddr(vips[1])) {
				t.Fatalf("oakley status virtual_ips %v, want a second one from %s:\n%s", vips, nsdPool6, st.raw)
			}
			vips = vips[:1]
		}
		if len(vips) != 1 || !netip.MustParsePrefix(pool).Contains(netip.MustParseAddr(vips[0])) {
			t.Fatalf("oakley status virtual_ips %v, want one from %s:\n%s", vips, pool, st.raw)
		}
		if st.Counters["virtual_ip_errors"] != 0 {
			t.Fatalf("virtual_ip_errors %d:\n%s", st.Counters["virtual_ip_errors"], tail(o.p.out.String(), 4000))
		}
		if !o.p.logged("tun: netstack address added") {
			t.Fatalf("oakley's log does not show the virtual IP added to the stack:\n%s", tail(o.p.out.String(), 4000))
		}
		proxy := "socks5://" + nsdSOCKS5
		if !pushDNS {
			// The tunnel works (by address), names are refused: nothing resolves them.
			httpGet(t, tp.left.ns, "http://"+nsdWeb+":8080/", proxy, token)
			if out := httpGetFails(t, tp.left.ns, "http://"+nsdZone+":8080/", proxy); !strings.Contains(out, "host unreachable") {
				t.Errorf("a name without pushed DNS: the SOCKS client did not get host unreachable: %s", out)
			}
			if n := o.mustIKEStatus(t).Counters["dns_lookups"]; n != 0 {
				t.Errorf("dns_lookups %d without a pushed server", n)
			}
			if !o.p.logged("the gateway pushed no DNS server") {
				t.Errorf("oakley's log does not say why the name was refused")
			}
			return
		}
		httpGet(t, tp.left.ns, "http://"+nsdZone+":8080/", proxy, token)
		if dual {
			// The IPv6 virtual IP is on the stack too: an IPv6 target is reached from it.
			httpGet(t, tp.left.ns, "http://["+nsdWeb6+"]:8080/", proxy, token)
		}
		recordResult(t, "netstack remote access (%s): from `oakley initiate` to an HTTP GET by name through SOCKS5, resolved by the pushed DNS server: %s",
			map[bool]string{false: "IKEv2 CP", true: "IKEv1 XAUTH + Mode Config"}[v1]+map[bool]string{true: ", oakley gateway"}[oakleyGW]+map[bool]string{true: ", dual-stack"}[dual], time.Since(t0).Round(time.Millisecond))
		// The query came through the tunnel, from the virtual IP.
		if !strings.Contains(dns.out.String(), "query "+nsdZone+". TypeA from "+vips[0]+":") {
			t.Errorf("the DNS server saw no A query for %s from %s:\n%s", nsdZone, vips[0], dns.out.String())
		}
		c := o.mustIKEStatus(t).Counters
		if c["dns_lookups"] == 0 || c["dns_failures"] != 0 || c["dns_not_found"] != 0 {
			t.Errorf("DNS counters after a good lookup: %v", c)
		}
		// A name the server does not know.
		if out := httpGetFails(t, tp.left.ns, "http://nowhere.example:8080/", proxy); !strings.Contains(out, "host unreachable") {
			t.Errorf("an unknown name: the SOCKS client did not get host unreachable: %s", out)
		}
		if n := o.mustIKEStatus(t).Counters["dns_not_found"]; n != 1 {
			t.Errorf("dns_not_found %d, want 1", n)
		}
		// The server goes away: a name not yet cached fails, and is counted.
		dns.signal(syscall.SIGKILL)
		dns.wait(5 * time.Second)
		if out := httpGetFails(t, tp.left.ns, "http://www."+nsdZone+":8080/", proxy); !strings.Contains(out, "general SOCKS server failure") {
			t.Errorf("a dead DNS server: the SOCKS client did not get general failure: %s", out)
		}
		if n := o.mustIKEStatus(t).Counters["dns_failures"]; n == 0 {
			t.Errorf("dns_failures 0 after the server was killed")
		}
		// The IKE SA goes: the virtual IP leaves the stack, nothing reaches inside.
		o.mustCtl(t, "terminate", conn)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(o.p.out.String(), "tun: netstack address removed") {
			if time.Now().After(deadline) {
				t.Fatalf("the virtual IP was not removed from the stack after terminate:\n%s", tail(o.p.out.String(), 4000))
			}
			time.Sleep(50 * time.Millisecond)
		}
		httpGetFails(t, tp.left.ns, "http://"+nsdWeb+":8080/", proxy)
	})
}

// nsdAuthCase runs a TestInteropNetstackDNS case whose charon gateway authenticates oakley
// otherwise than with a PSK (tc.auth): the gateway with its certificate and a pool that
// pushes nsdDNS, oakley as nobody on the netstack, `oakley initiate`, then a GET by name
// through the SOCKS5 proxy, timed from the initiate. A refused login (tc.refused) must fail
// the initiate, put no address on the stack, and leave the name unresolved.
func nsdAuthCase(t *testing.T, tp *ioTopo, tc nsdCase, netstack func(*ikeSite), token string, dns *proc) {
	password := "pw-" + randomID(t, 16)
	ours := password // what oakley sends
	if tc.refused && tc.auth != "eap-tls" {
		ours = "pw-wrong-" + randomID(t, 8)
	}
	var site ikeSite
	var sw *swan
	var label, auth, refusal string // the case in the timing line, oakley's IKE SA auth (prefix), its log line for a refusal
	switch tc.auth {
	case "xauth-rsa":
		// As TestInteropXAUTHClient/RSA: Main Mode RSA signatures, then charon's xauth round.
		site = oakleyXAUTHClient(tp, "", ours, false)
		var w swanConf
		useCerts(t, &site, &w, "rsa")
		site.Files["alice.pass"] = []byte(ours + "\n")
		conf := swanGateway(tp, "unused", password, false)
		conf = strings.Replace(conf, "    local {\n      auth = psk\n", "    local {\n      auth = pubkey\n      certs = right.pem\n", 1)
		conf = strings.Replace(conf, "    remote {\n      auth = psk\n", "    remote {\n      auth = pubkey\n", 1)
		sw = startSwanRawFiles(t, tp.right, "gateway", conf, w.Files)
		label, auth, refusal = "IKEv1 RSA certificates + XAUTH + Mode Config", "XAUTHInitRSA", "XAUTH: the gateway refused our login"
	case "eap-mschapv2":
		p := newTestPKI(t, "ecdsa")
		files := map[string][]byte{"x509ca/ca.pem": p.caPEM, "x509/right.pem": p.rightCert, "private/right.key": p.rightKey}
		sw = startSwanEAP(t, tp.right, "gateway", swanEAPGateway(tp, password), files)
		site = oakleyEAPClient(tp, p, ours)
		label, auth, refusal = "IKEv2 EAP-MSCHAPv2", "EAP-MSCHAPv2 "+xaUser, "refused our EAP login"
	case "eap-tls":
		p := newTestPKI(t, "ecdsa")
		client := p
		if tc.refused {
			client = newTestPKI(t, "ecdsa") // a certificate of a CA charon does not trust
		}
		files := map[string][]byte{"x509ca/ca.pem": p.caPEM, "x509/right.pem": p.rightCert, "private/right.key": p.rightKey}
		sw = startSwanEAPTLS(t, tp.right, "gateway", swanEAPTLSGateway(tp), files)
		site = oakleyEAPTLSClient(tp, p, client)
		label, auth, refusal = "IKEv2 EAP-TLS (TLS 1.2)", "EAP-TLS "+leftID, "EAP-TLS handshake failed"
	default:
		t.Fatalf("unknown authentication %q", tc.auth)
	}
	netstack(&site)
	o := startIKE(t, tp.left, "client", site)
	nobody, err := user.Lookup("nobody") // asNobody skipped the test without it
	if err != nil {
		t.Fatal(err)
	}
	assertUnprivileged(t, o.p.cmd.Process.Pid, nobody.Uid)
	proxy := "socks5://" + nsdSOCKS5
	secrets := []string{password, ours}

	t0 := time.Now()
	out, err := o.ctl("initiate", site.connName()+"/net")
	if tc.refused {
		if err == nil {
			t.Fatalf("oakley initiate succeeded with a login the gateway should refuse:\n%s", out)
		}
		waitLog(t, o, refusal, 10*time.Second)
		if st := o.mustIKEStatus(t); st.established() != 0 || len(st.allSAs()) != 0 || st.IKECounters["auth_failures"] == 0 {
			t.Fatalf("after a refused login: %d IKE SAs, %d child SAs, auth_failures %d", st.established(), len(st.allSAs()), st.IKECounters["auth_failures"])
		}
		if strings.Contains(o.p.out.String(), "tun: netstack address added") {
			t.Fatalf("an address went on the stack although the login was refused:\n%s", tail(o.p.out.String(), 4000))
		}
		// No pushed DNS server: the name is refused; no address: nothing reaches inside.
		if out := httpGetFails(t, tp.left.ns, "http://"+nsdZone+":8080/", proxy); !strings.Contains(out, "host unreachable") {
			t.Errorf("a name after a refused login: the SOCKS client did not get host unreachable: %s", out)
		}
		httpGetFails(t, tp.left.ns, "http://"+nsdWeb+":8080/", proxy)
		if strings.Contains(dns.out.String(), "query ") {
			t.Errorf("the DNS server was asked although the login was refused:\n%s", dns.out.String())
		}
		t.Logf("refused as expected: oakley initiate failed after %s", time.Since(t0).Round(time.Millisecond))
		assertNoSecrets(t, "oakley's log", o.p.out.String(), secrets)
		return
	}
	if err != nil {
		t.Fatalf("oakley initiate: %v\n%s", err, out)
	}
	st := waitChildUp(t, o, 20*time.Second)
	httpGet(t, tp.left.ns, "http://"+nsdZone+":8080/", proxy, token)
	recordResult(t, "netstack remote access (%s): from `oakley initiate` to an HTTP GET by name through SOCKS5, resolved by the pushed DNS server: %s",
		label, time.Since(t0).Round(time.Millisecond))

	if a := st.Connections[0].IKESAs[0].Auth; !strings.HasPrefix(a, auth) {
		t.Errorf("oakley's IKE SA auth %q, want %s", a, auth)
	}
	vips := ikeVIPs(t, o)
	if len(vips) != 1 || !netip.MustParsePrefix(xaPoolNet).Contains(netip.MustParseAddr(vips[0])) {
		t.Fatalf("oakley status virtual_ips %v, want one from %s:\n%s", vips, xaPoolNet, st.raw)
	}
	if !o.p.logged("tun: netstack address added") {
		t.Errorf("oakley's log does not show the virtual IP added to the stack:\n%s", tail(o.p.out.String(), 4000))
	}
	if !strings.Contains(dns.out.String(), "query "+nsdZone+". TypeA from "+vips[0]+":") {
		t.Errorf("the DNS server saw no A query for %s from %s:\n%s", nsdZone, vips[0], dns.out.String())
	}
	if c := o.mustIKEStatus(t).Counters; c["dns_lookups"] == 0 || c["dns_failures"] != 0 || c["virtual_ip_errors"] != 0 {
		t.Errorf("counters after a good lookup: %v", c)
	}
	if tc.auth == "eap-tls" && !o.p.logged(`"tls": "TLS 1.2"`) {
		t.Errorf("oakley did not log TLS 1.2:\n%s", grepLines(o.p.out.String(), "EAP-TLS"))
	}
	if sas := sw.listSAs(t); len(sas) != 1 || len(sas[0].Children) != 1 || sas[0].Children[0]["packets-in"] == "0" {
		t.Errorf("charon's SAs: %+v", sas)
	}
	assertNoSecrets(t, "oakley's log", o.p.out.String(), secrets)
}

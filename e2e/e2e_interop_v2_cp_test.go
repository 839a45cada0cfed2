//go:build linux

package e2e

// IKEv2 remote access and the key log against strongSwan (issue 10): a virtual IP from a
// strongSwan pool onto oakley's TUN, oakley's pool giving one to a strongSwan client (and
// two clients at once and refusing a third when it is exhausted), and tshark decrypting IKE_AUTH and ESP of
// an oakley⇄strongSwan IKEv2 tunnel with the keys of OAKLEY_KEYLOG (and failing to with a
// wrong key).

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInteropV2VirtualIPFromSwan: oakley (left) asks charon's pools for an IPv4 address
// (vips = ["0.0.0.0"]), and in the dual-stack case also an IPv6 one (["0.0.0.0", "::"]), puts
// them on its TUN and pings charon's inner hosts from them through the tunnel; `oakley
// status` shows them. Negative control: after `oakley terminate` the addresses are gone from
// the device and no route keeps them as source.
func TestInteropV2VirtualIPFromSwan(t *testing.T) {
	needInterop(t)
	t.Parallel()
	parallelRuns(t, 2, []string{"ipv4", "dual-stack"}, func(t *testing.T, i int) {
		dual := i == 1
		tp := newTopo(t, false)
		c := v2Case{ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"}
		sp := startV2Pair(t, tp, c, true, func(s *ikeSite, w *swanConf) {
			s.Addresses = nil
			s.VIPs = []string{"0.0.0.0"}
			s.Children[0].LocalTS = nil // a vips client's default: 0.0.0.0/0
			w.Pools = "  rw {\n    addrs = 203.0.113.0/28\n    dns = 203.0.113.53\n  }\n"
			w.Extra = "    pools = rw\n"
			w.Children[0].RemoteTS = "dynamic"
			if dual {
				s.VIPs = append(s.VIPs, "::")
				s.Children[0].LocalTS = []string{"0.0.0.0/0", "::/0"}
				s.Children[0].RemoteTS = append(s.Children[0].RemoteTS, netB6)
				w.Pools += "  rw6 {\n    addrs = 2001:db8:2::/120\n  }\n"
				w.Extra = "    pools = rw, rw6\n"
				w.Children[0].LocalTS += "," + netB6
			}
		})
		if dual {
			tp.right.ns.mustRun(t, "ip", "addr", "replace", hostB6+"/128", "dev", "lo")
		}
		t0 := time.Now()
		sp.o.mustCtl(t, "initiate", sp.site.connName()+"/net")
		st := waitChildUp(t, sp.o, 20*time.Second)
		ike := st.Connections[0].IKESAs[0]
		want := map[bool]int{false: 1, true: 2}[dual]
		if len(ike.VirtualIPs) != want {
			t.Fatalf("oakley status shows virtual IPs %v, want %d:\n%s", ike.VirtualIPs, want, st.raw)
		}
		var vips []netip.Addr
		for _, s := range ike.VirtualIPs {
			vip := netip.MustParseAddr(s)
			pool := map[bool]string{true: "203.0.113.0/28", false: "2001:db8:2::/120"}[vip.Is4()]
			if !netip.MustParsePrefix(pool).Contains(vip) {
				t.Fatalf("virtual IP %s is not from charon's pool %s", vip, pool)
			}
			vips = append(vips, vip)
		}
		sas := sp.sw.listSAs(t)
		addrs := tp.left.ns.mustRun(t, "ip", "-o", "addr", "show")
		for _, vip := range vips {
			if len(sas) != 1 || !strings.Contains(sas[0].Fields["remote-vips"], vip.String()) {
				t.Fatalf("charon's IKE SA does not list %s as the peer's virtual IP: %+v", vip, sas)
			}
			if !strings.Contains(addrs, fmt.Sprintf("%s/%d", vip, vip.BitLen())) {
				t.Fatalf("the virtual IP %s is not on oakley's device:\n%s", vip, addrs)
			}
			dst := map[bool]string{true: tp.right.host, false: hostB6}[vip.Is4()]
			mustPing(t, tp.left.ns, vip.String(), dst, 3)
		}
		recordResult(t, "IKEv2 virtual IPs from strongSwan's pools onto oakley's TUN: %v, from `oakley initiate` to pings from them through the tunnel: %s",
			vips, time.Since(t0).Round(time.Millisecond))
		text, _ := sp.o.statusText()
		if !strings.Contains(text, "virtual IPs "+vips[0].String()) {
			t.Errorf("oakley status (text) does not show the virtual IP:\n%s", text)
		}
		// An IKE SA rekey keeps the assignment: the address stays, the new SA shows it.
		first := ike.Cookies
		sp.o.mustCtl(t, "rekey", sp.site.connName())
		waitIKE(t, sp.o, "the rekeyed IKE SA", 15*time.Second, func(s *ikeStatus) bool {
			sas := s.Connections[0].IKESAs
			return len(sas) == 1 && sas[0].Cookies != first && sas[0].State == "established" && len(sas[0].VirtualIPs) == len(vips)
		})
		if out := tp.left.ns.mustRun(t, "ip", "-o", "addr", "show"); !strings.Contains(out, vips[0].String()+"/") {
			t.Fatalf("the virtual IP %s left the device with the IKE SA rekey:\n%s", vips[0], out)
		}
		mustPing(t, tp.left.ns, vips[0].String(), tp.right.host, 2)

		// Negative control: the IKE SA goes, and the addresses and their routes with it.
		sp.o.mustCtl(t, "terminate", sp.site.connName())
		deadline := time.Now().Add(10 * time.Second)
		for _, vip := range vips {
			for strings.Contains(tp.left.ns.mustRun(t, "ip", "-o", "addr", "show"), fmt.Sprintf("%s/%d", vip, vip.BitLen())) {
				if time.Now().After(deadline) {
					t.Fatalf("the virtual IP %s stayed on the device after the IKE SA was deleted", vip)
				}
				time.Sleep(50 * time.Millisecond)
			}
			for _, fam := range []string{"-4", "-6"} {
				if routes := tp.left.ns.mustRun(t, "ip", fam, "route", "show", "table", "all"); strings.Contains(routes, "src "+vip.String()) {
					t.Errorf("a route with the withdrawn virtual IP %s as source is left:\n%s", vip, routes)
				}
			}
		}
	})
}

// TestInteropV2VirtualIPToSwan: oakley's pool (two addresses) gives one to each of two
// strongSwan clients (vips = 0.0.0.0, two identities of one charon) with a DNS server and a
// split network; each pings oakley's inner host from its address, over its own child.
// Negative control: a third client finds the pool exhausted: oakley answers
// INTERNAL_ADDRESS_FAILURE and counts pool_exhausted, charon gets no child; the first two
// keep their tunnels.
func TestInteropV2VirtualIPToSwan(t *testing.T) {
	needInterop(t)
	t.Parallel()
	tp := newTopo(t, false)
	c := v2Case{ike: "aes256-sha384-ecp384", esp: "aes256-sha256"}
	extra := func(name, id, child, psk string) string {
		return "connections {\n  " + name + " {\n    version = 2\n    proposals = " + c.ike + "\n    local_addrs = " + tp.right.outer +
			"\n    remote_addrs = " + tp.left.seen + "\n    vips = 0.0.0.0\n    local {\n      auth = psk\n      id = " + id + "\n    }\n" +
			"    remote {\n      auth = psk\n      id = " + leftID + "\n    }\n    children {\n      " + child + " {\n        local_ts = dynamic\n" +
			"        remote_ts = " + tp.left.net + "\n        esp_proposals = " + c.esp + "\n      }\n    }\n  }\n}\n" +
			"secrets {\n  ike-" + name + " {\n    id-1 = " + id + "\n    id-2 = " + leftID + "\n    secret = \"" + psk + "\"\n  }\n}\n"
	}
	sp := startV2Pair(t, tp, c, false, func(s *ikeSite, w *swanConf) {
		s.RemoteID = "%any"
		s.Pools = []string{"rw"}
		s.PoolTOML = "[[pool]]\nname = \"rw\"\naddrs = \"203.0.113.10-203.0.113.11\"\ndns = [\"203.0.113.53\"]\nsplit = [\"" + tp.left.net + "\"]\n"
		s.Children[0].RemoteTS = []string{"203.0.113.0/24"}
		w.Extra = "    vips = 0.0.0.0\n"
		w.Children[0].LocalTS = "dynamic"
		w.Tail = extra("second", "second.example", "net2", s.PSK) + extra("third", "third.example", "net3", s.PSK)
	})
	t0 := time.Now()
	sp.sw.swanctl(t, "--initiate", "--child", "net", "--timeout", "30")
	st := waitChildUp(t, sp.o, 20*time.Second)
	took := time.Since(t0)
	const vip, vip2 = "203.0.113.10", "203.0.113.11"
	if ike := st.Connections[0].IKESAs[0]; len(ike.VirtualIPs) != 1 || ike.VirtualIPs[0] != vip {
		t.Fatalf("oakley status shows virtual IPs %v, want [%s]:\n%s", ike.VirtualIPs, vip, st.raw)
	}
	sas := sp.sw.listSAs(t)
	if len(sas) != 1 || sas[0].Fields["local-vips"] != vip {
		t.Fatalf("charon's IKE SA has local-vips %q, want %s: %+v", sas[0].Fields["local-vips"], vip, sas)
	}
	// The reply carries the address, the pool's DNS server and its split network (charon
	// has no DNS handler here: it logs the attribute's type only).
	if log := sp.sw.Log(); !strings.Contains(log, "CPRP(ADDR DNS SUBNET)") || !strings.Contains(log, "processing INTERNAL_IP4_DNS attribute") {
		t.Errorf("charon did not receive a CFG_REPLY with address, DNS and subnet:\n%s", tail(log, 4000))
	}
	mustPing(t, tp.right.ns, vip, tp.left.host, 3)
	recordResult(t, "IKEv2 virtual IP from oakley's pool to a strongSwan client: %s, from `swanctl --initiate` to the child up at oakley %s",
		vip, took.Round(time.Millisecond))
	// charon rekeys the IKE SA: oakley's lease follows it to the new SA.
	first := st.Connections[0].IKESAs[0].Cookies
	sp.sw.swanctl(t, "--rekey", "--ike", sp.conf.connName())
	waitIKE(t, sp.o, "the rekeyed IKE SA", 15*time.Second, func(s *ikeStatus) bool {
		sas := s.Connections[0].IKESAs
		return len(sas) == 1 && sas[0].Cookies != first && sas[0].State == "established" && len(sas[0].VirtualIPs) == 1 && sas[0].VirtualIPs[0] == vip
	})
	mustPing(t, tp.right.ns, vip, tp.left.host, 2)

	// A second client at once, on the same connection: its own address and child.
	sp.sw.swanctl(t, "--initiate", "--child", "net2", "--timeout", "30")
	var vips []string
	for _, sa := range sp.sw.listSAs(t) {
		vips = append(vips, sa.Fields["local-vips"])
	}
	if slices.Sort(vips); !slices.Equal(vips, []string{vip, vip2}) {
		t.Fatalf("charon's two clients have virtual IPs %v, want %s and %s", vips, vip, vip2)
	}
	mustPing(t, tp.right.ns, vip2, tp.left.host, 3)
	mustPing(t, tp.right.ns, vip, tp.left.host, 3)
	st = sp.o.mustIKEStatus(t)
	if n := len(st.Connections[0].IKESAs); n != 2 {
		t.Fatalf("oakley shows %d IKE SAs, want 2:\n%s", n, st.raw)
	}

	// Negative control: a third client finds the pool taken.
	out, err := sp.sw.Swanctl("--initiate", "--child", "net3", "--timeout", "30")
	if err == nil && !strings.Contains(out, "failed") {
		t.Fatalf("the third client's child came up from an exhausted pool:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(sp.sw.Log(), "INTERNAL_ADDRESS_FAILURE") {
		if time.Now().After(deadline) {
			t.Fatalf("charon's log shows no INTERNAL_ADDRESS_FAILURE for the third client:\n%s", tail(sp.sw.Log(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	st = sp.o.mustIKEStatus(t)
	if st.IKECounters["pool_exhausted"] != 1 {
		t.Errorf("oakley counted pool_exhausted %d, want 1", st.IKECounters["pool_exhausted"])
	}
	if !sp.o.p.logged("INTERNAL_ADDRESS_FAILURE") {
		t.Errorf("oakley's log does not name INTERNAL_ADDRESS_FAILURE")
	}
	mustPing(t, tp.right.ns, vip, tp.left.host, 3)
	mustPing(t, tp.right.ns, vip2, tp.left.host, 3)
}

// TestInteropV2KeyLog: tshark decrypts the IKE_AUTH exchange (both identities), a Delete
// sent under the IKE SA after it was rekeyed, and every
// ESP packet of an oakley⇄strongSwan IKEv2 tunnel with the records OAKLEY_KEYLOG wrote,
// for AES-GCM and for AES-CBC with HMAC-SHA2. Negative control: with one wrong SK_e / ESP
// key, the identities are not decrypted and the ESP ICVs are bad.
func TestInteropV2KeyLog(t *testing.T) {
	needInterop(t)
	needTools(t, "tshark")
	t.Parallel()
	cases := []v2Case{
		{name: "aes128gcm16", ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16"},
		{name: "aes256-sha384", ike: "aes256-sha384-ecp384", esp: "aes256-sha256"},
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	parallelRuns(t, 2, names, func(t *testing.T, i int) {
		c := cases[i]
		tp := newTopo(t, false)
		dir := t.TempDir()
		keylog, pcap := filepath.Join(dir, "keys.log"), filepath.Join(dir, "ike.pcap")
		capture := startProc(t, "tshark", tp.right.ns.args("tshark", "-i", "veth0", "-n", "-l", "-P",
			"-f", "udp port 500 or udp port 4500", "-w", pcap)...)
		waitCapturing(t, capture)
		sp := startV2Pair(t, tp, c, true, func(s *ikeSite, _ *swanConf) {
			s.Env = []string{"OAKLEY_KEYLOG=" + keylog}
		})
		if !sp.o.p.logged("OAKLEY_KEYLOG is set") {
			t.Errorf("oakley did not warn that the key log is on")
		}
		sp.establish(t, true)
		pingBoth(t, tp, 3)
		// An IKE SA rekey (new keys logged), then a Delete under the new SA.
		first := strings.ToLower(sp.o.mustIKEStatus(t).Connections[0].IKESAs[0].Cookies)
		sp.o.mustCtl(t, "rekey", sp.site.connName())
		var second string
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			st := sp.o.mustIKEStatus(t)
			if sas := st.Connections[0].IKESAs; len(sas) == 1 && sas[0].State == "established" && strings.ToLower(sas[0].Cookies) != first {
				second = strings.ToLower(sas[0].Cookies)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the IKE SA was not rekeyed within 15 s:\n%s", st.raw)
			}
		}
		pingBoth(t, tp, 2)
		sp.o.mustCtl(t, "terminate", sp.site.connName())
		time.Sleep(500 * time.Millisecond) // let the capture see the last packets
		capture.signal(syscall.SIGINT)
		if !capture.wait(10 * time.Second) {
			t.Fatalf("tshark did not stop:\n%s", capture.out.String())
		}
		data, err := os.ReadFile(keylog)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(keylog); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key log mode %v (%v), want 0600", fi.Mode().Perm(), err)
		}
		var ikeRecs, espRecs []string
		for _, l := range strings.Split(string(data), "\n") {
			if r, ok := strings.CutPrefix(l, "ikev2_decryption_table "); ok {
				ikeRecs = append(ikeRecs, r)
			}
			if r, ok := strings.CutPrefix(l, "esp_sa "); ok {
				espRecs = append(espRecs, r)
			}
		}
		spis1, spis2 := strings.Split(first, ":"), strings.Split(second, ":")
		if len(ikeRecs) != 2 || !strings.HasPrefix(ikeRecs[0], spis1[0]+","+spis1[1]+",") || !strings.HasPrefix(ikeRecs[1], spis2[0]+","+spis2[1]+",") || len(espRecs) != 2 {
			t.Fatalf("key log: %d IKEv2 records (want 2, for SPIs %v then %v), %d ESP records (want 2):\n%s", len(ikeRecs), spis1, spis2, len(espRecs), data)
		}

		ids := decodeIKEv2IDs(t, pcap, ikeRecs[0])
		if !strings.Contains(ids, leftID) || !strings.Contains(ids, rightID) {
			t.Fatalf("tshark did not decrypt IKE_AUTH with the key log's record (identities %q)", ids)
		}
		// The rekeyed SA's record decrypts the Delete sent under it; the first record alone
		// does not (the control).
		if !deleteDecrypted(t, pcap, spis2[0], ikeRecs...) {
			t.Errorf("tshark did not decrypt the Delete of the rekeyed IKE SA %s with the key log's records", second)
		}
		if deleteDecrypted(t, pcap, spis2[0], ikeRecs[0]) {
			t.Errorf("the rekeyed IKE SA's Delete decrypted without its record: the check cannot fail")
		}
		pkts := decodeESP(t, pcap, espRecs)
		for _, pk := range pkts {
			if !pk.icvGood || pk.icvBad || (pk.icmpType != "8" && pk.icmpType != "0") {
				t.Errorf("ESP frame %s SPI %s: ICV good %v bad %v, ICMP %q; want a good ICV and an echo", pk.frame, pk.spi, pk.icvGood, pk.icvBad, pk.icmpType)
			}
		}
		recordResult(t, "key log (IKEv2 %s, ESP %s): tshark decrypted IKE_AUTH and %d of %d ESP packets with OAKLEY_KEYLOG's records", c.ike, c.esp, len(pkts), len(pkts))

		// Negative control: one wrong key each.
		wrongIKE := corruptField(ikeRecs[0], 2)
		wrongIKE = corruptField(wrongIKE, 3)
		if ids := decodeIKEv2IDs(t, pcap, wrongIKE); strings.Contains(ids, leftID) || strings.Contains(ids, rightID) {
			t.Errorf("tshark decrypted IKE_AUTH with wrong SK_e keys (identities %q): the check cannot fail", ids)
		}
		// The encryption key (AEAD) and the integrity key (CBC + HMAC) of one SA.
		wrongESP := []string{corruptField(corruptField(espRecs[0], 5), 7), espRecs[1]}
		bad := 0
		for _, pk := range decodeESP(t, pcap, wrongESP) {
			if pk.icvBad || !pk.icvGood {
				bad++
			}
		}
		if bad == 0 {
			t.Errorf("every ESP ICV verified with a wrong key: the check cannot fail")
		}
	})
}

// decodeIKEv2IDs has tshark decrypt the capture's IKEv2 messages with one
// ikev2_decryption_table record and returns the FQDN identities it found.
func decodeIKEv2IDs(t *testing.T, pcap, rec string) string {
	t.Helper()
	out, err := runTimeout(60*time.Second, "tshark", "-r", pcap, "-n", "-o", "uat:ikev2_decryption_table:"+rec,
		"-Y", "isakmp", "-T", "fields", "-e", "isakmp.id.data.fqdn")
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	return out
}

// deleteDecrypted reports whether tshark, with the records recs, finds a Delete payload in
// a message of the IKE SA whose initiator SPI is ispi.
func deleteDecrypted(t *testing.T, pcap, ispi string, recs ...string) bool {
	t.Helper()
	args := []string{"-r", pcap, "-n"}
	for _, r := range recs {
		args = append(args, "-o", "uat:ikev2_decryption_table:"+r)
	}
	args = append(args, "-Y", "isakmp", "-T", "fields", "-e", "isakmp.ispi", "-e", "isakmp.delete.protoid")
	out, err := runTimeout(60*time.Second, "tshark", args...)
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 2 && strings.ReplaceAll(strings.TrimPrefix(f[0], "0x"), ":", "") == ispi && strings.TrimSpace(f[1]) != "" {
			return true
		}
	}
	return false
}

// corruptField flips the first hex digit of the i-th comma-separated field of a record
// (after "0x" when the field is quoted hex).
func corruptField(rec string, i int) string {
	f := strings.Split(rec, ",")
	s := f[i]
	j := 0
	for j < len(s) && !strings.ContainsRune("0123456789abcdef", rune(s[j])) {
		j++
	}
	if strings.HasPrefix(strings.Trim(s, `"`), "0x") {
		j = strings.Index(s, "0x") + 2
	}
	if j < len(s) {
		b := []byte(s)
		if b[j] == '0' {
			b[j] = '1'
		} else {
			b[j] = '0'
		}
		f[i] = string(b)
	}
	return strings.Join(f, ",")
}

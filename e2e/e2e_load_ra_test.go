//go:build linux

package e2e

// Remote access under load: LOAD_RA_CLIENTS road warriors (default 200; `make loadtest
// RA_N=1000`) connect at once to one oakley EAP-MSCHAPv2 gateway with a pool, each in the
// load generator (e2e/loadgen -ra: oakley's own IKEv2 client code, one outer address per
// client) logging in as its own [[user]] and asking for an IPv6 virtual IP by CFG_REQUEST.
//
//	[gen] veth0 198.18.0.1/24 + 198.19.0.1 ... (one /32 per client) ---- veth0 198.18.0.2/24 [gw]
//	 client N: virtual IP from the pool 2001:db8:c::1-...               oakley, TUN 2001:db8:b::1
//	 echo to 2001:db8:b::(N+1) through its own child SA                  2001:db8:b::/48 is local
//
// "clients": every client is established, holds a distinct virtual IP inside the pool, and
// its echo is answered through its tunnel; the gateway's `status --json` lists each client
// with its EAP user, the same virtual IP and traffic both ways, and counts no pool_exhausted.
// "pool-short" (the negative control): a pool of 3/4 as many addresses; exactly the rest of
// the clients are refused with INTERNAL_ADDRESS_FAILURE, each counted in pool_exhausted, and
// those let in still get distinct addresses and carry their echo. Figures: the time to
// connect all, the gateway's live heap and RSS per client, the leases in status.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	raPoolFirst = "2001:db8:c::1"
	raInside    = "2001:db8:b::/48"
)

// raGatewayTOML is the gateway for n users and a pool of size addresses.
func raGatewayTOML(n, size int, sock, cert, key, passFile string) string {
	last := netip.MustParseAddr(raPoolFirst)
	for range size - 1 {
		last = last.Next()
	}
	var b strings.Builder
	fmt.Fprintf(&b, `[daemon]
control_socket = %q
log_level = "warn"

[device]
addresses = ["2001:db8:b::1/128"]

[[connection]]
name = "rw"
version = 2
local_addr = %q
remote_addr = "%%any"
local_id = "gw.load.example"
remote_id = "%%any"
auth = "pubkey"
cert = %q
key = %q
eap = "mschapv2"
pools = ["rw"]
proposals = ["aes128-sha256-ecp256"]
dpd_delay = "0s"
start_action = "none"
  [[connection.child]]
  name = "net"
  local_ts = [%q]
  remote_ts = ["2001:db8:c::/64"]
  esp_proposals = ["aes128gcm16"]

[[pool]]
name = "rw"
addrs = "%s-%s"
`, sock, loadResponder4, cert, key, raInside, raPoolFirst, last)
	for i := range n {
		fmt.Fprintf(&b, "\n[[user]]\nname = \"user-%d\"\npassword_file = %q\n", i, passFile)
	}
	return b.String()
}

// raStatus is what the test reads of the gateway's status --json.
type raStatus struct {
	Connections []struct {
		Name    string `json:"name"`
		Clients []struct {
			Identity   string   `json:"identity"`
			User       string   `json:"user"`
			VirtualIPs []string `json:"virtual_ips"`
			Since      string   `json:"since"`
			BytesIn    uint64   `json:"bytes_in"`
			BytesOut   uint64   `json:"bytes_out"`
		} `json:"clients"`
	} `json:"connections"`
	IKECounters map[string]uint64 `json:"ike_counters"`
}

func loadRA(t *testing.T) {
	n := envInt(t, "LOAD_RA_CLIENTS", 200)
	t.Run("clients", func(t *testing.T) { runLoadRA(t, n, n) })
	t.Run("pool-short", func(t *testing.T) { runLoadRA(t, n, n*3/4) })
}

// runLoadRA connects n clients at once to a gateway whose pool has size addresses.
func runLoadRA(t *testing.T, n, size int) {
	gen := buildTool(t, "oakley/e2e/loadgen")
	g, r, dir := loadNet(t, n)
	r.mustRun(t, "ip", "-6", "route", "add", "local", raInside, "dev", "lo")

	pki := newE2EPKI(t, "p256", "ra")
	ee := pki.endEntity(t, "left", "gw.load.example", "ra-gw", certOpts{})
	cert := writeFile(t, dir, "gw.pem", append(ee.certPEM(), pki.left.certPEM()...))
	key := writeFile(t, dir, "gw-key.pem", ee.keyPEM(t))
	ca := writeFile(t, dir, "ca.pem", pki.root.certPEM())
	passFile := filepath.Join(dir, "password")
	if err := os.WriteFile(passFile, []byte(newPSK(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "gw.sock")
	o := &oakley{name: "gateway", ns: r, cfg: filepath.Join(dir, "gw.toml"), spec: siteSpec{Socket: sock}}
	if err := os.WriteFile(o.cfg, []byte(raGatewayTOML(n, size, sock, cert, key, passFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	o.p = startProc(t, "oakley-gateway", r.args("env", "OAKLEY_PPROF="+loadPprof, oakleyBin, "up", "-c", o.cfg)...)
	t.Cleanup(func() {
		if t.Failed() {
			o.dumpTail(t)
		}
	})
	if !waitFor(30*time.Second, func() bool { _, err := o.status(); return err == nil }) {
		t.Fatalf("the gateway did not start:\n%s", tail(o.p.out.String(), 3000))
	}
	time.Sleep(time.Second)
	base := sampleResponder(t, o)

	lg := startLoadGen(t, g, gen, "-ra", "-version", "2", "-n", strconv.Itoa(n), "-concurrency", strconv.Itoa(n),
		"-responder", loadResponder4, "-local", loadFirstPeer, "-remote-id", "gw.load.example",
		"-remote-ts", raInside, "-eap-password-file", passFile, "-ca-file", ca)
	upPh := lg.await(t, "up", envDuration(t, "LOAD_TIMEOUT", 10*time.Minute))
	pingPh := lg.await(t, "ping", 2*time.Minute)
	peak := sampleResponder(t, o)
	st, raw, err := statusJSON[raStatus](o)
	if err != nil {
		t.Fatal(err)
	}

	// The clients' side: who came up, with which address.
	want := min(n, size)
	up, refused := int(num(upPh, "ok")), int(num(upPh, "address_refused"))
	vips := map[string]string{} // client → virtual IP
	if m, ok := upPh["vips"].(map[string]any); ok {
		for k, v := range m {
			vips[k], _ = v.(string)
		}
	}
	first := netip.MustParseAddr(raPoolFirst)
	last := first
	for range size - 1 {
		last = last.Next()
	}
	owner := map[string]string{} // virtual IP → client
	var dup, outside []string
	for c, v := range vips {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Less(first) || last.Less(a) {
			outside = append(outside, c+"="+v)
		}
		if o, ok := owner[v]; ok {
			dup = append(dup, fmt.Sprintf("%s to %s and %s", v, o, c))
		}
		owner[v] = c
	}

	// The gateway's side: its clients in status, with the same addresses.
	var clients, leases, noTraffic int
	var mismatch []string
	for _, c := range st.Connections {
		for _, cl := range c.Clients {
			clients++
			leases += len(cl.VirtualIPs)
			if cl.BytesIn == 0 || cl.BytesOut == 0 {
				noTraffic++
			}
			peer := "peer-" + strings.TrimPrefix(cl.User, "user-")
			if cl.Identity != cl.User || len(cl.VirtualIPs) != 1 || vips[peer] != cl.VirtualIPs[0] || cl.Since == "" {
				mismatch = append(mismatch, fmt.Sprintf("%+v (client %s has %q)", cl, peer, vips[peer]))
			}
		}
	}
	exhausted := st.IKECounters["pool_exhausted"]

	perClient := func(a, b float64) float64 { return (b - a) / float64(max(clients, 1)) / 1024 }
	figure(t, "load-ra", kv{"clients", n}, kv{"pool", size}, kv{"up", up}, kv{"refused", refused},
		kv{"secs_to_connect_all", num(upPh, "secs")}, kv{"median_ms", num(upPh, "median_ms")}, kv{"max_ms", num(upPh, "max_ms")},
		kv{"retransmits", num(upPh, "retransmits")}, kv{"distinct_vips", len(owner)}, kv{"pings_ok", int(num(pingPh, "ok"))},
		kv{"status_clients", clients}, kv{"status_leases", leases}, kv{"pool_exhausted", exhausted},
		kv{"heap_kib_per_client", perClient(base.heap, peak.heap)}, kv{"rss_kib_per_client", perClient(base.rss, peak.rss)},
		kv{"heap_mib", fmt.Sprintf("%.1f/%.1f", base.heap/(1<<20), peak.heap/(1<<20))},
		kv{"rss_mib", fmt.Sprintf("%.1f/%.1f", base.rss/(1<<20), peak.rss/(1<<20))})

	if up != want || len(vips) != want {
		t.Errorf("%d clients established and %d got a virtual IP, want %d of %d (pool %d): %v", up, len(vips), want, n, size, upPh["failures"])
	}
	if refused != n-want || int(exhausted) != n-want {
		t.Errorf("%d clients refused with INTERNAL_ADDRESS_FAILURE and pool_exhausted %d, want %d each: %v", refused, exhausted, n-want, upPh["failures"])
	}
	if len(dup) > 0 || len(outside) > 0 {
		t.Errorf("virtual IPs handed twice: %v; outside the pool %v-%v: %v", dup, first, last, outside)
	}
	if ok := int(num(pingPh, "ok")); ok != want || int(num(pingPh, "n")) != want {
		t.Errorf("%d of %d clients' echoes answered (missing e.g. %v, %v stray packets)", ok, int(num(pingPh, "n")), pingPh["missing"], pingPh["stray"])
	}
	if peak.ikeSAs != want || peak.pairs != want {
		t.Errorf("the gateway holds %d IKE SAs and %d child SA pairs, want %d", peak.ikeSAs, peak.pairs, want)
	}
	if clients != want || leases != want || noTraffic > 0 || len(mismatch) > 0 {
		t.Errorf("gateway status: %d clients, %d leases (want %d each), %d without traffic both ways; mismatched e.g. %v\n%s",
			clients, leases, want, noTraffic, mismatch[:min(len(mismatch), 5)], tail(raw, 2000))
	}
}

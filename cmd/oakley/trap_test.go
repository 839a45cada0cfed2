package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"oakley/config"
)

const ikeTemplate = `
[daemon]
ike_port = %[1]d
natt_port = %[2]d
metrics = "%[10]s"

[device]
kind = "netstack"
addresses = ["%[3]s/32"]

[[connection]]
name = "peer"
local_addr = "127.0.0.1"
remote_addr = "127.0.0.1"
remote_port = %[4]d
remote_natt_port = %[5]d
local_id = "%[6]s.test"
remote_id = "%[7]s.test"
psk = "0123456789abcdef0123456789abcdef-trap-test"
start_action = "%[8]s"

  [[connection.child]]
  name = "lan"
  local_ts = ["%[3]s/32"]
  remote_ts = ["%[9]s/32"]
`

// TestTrapAndMetrics: site A has start_action = "trap", so nothing is negotiated until
// traffic matches the child; the first packet's acquire starts IKE and the connection then
// succeeds. Site B exposes Prometheus metrics, checked afterwards.
func TestTrapAndMetrics(t *testing.T) {
	a := &manualSite{addr: "192.0.2.1"}
	b := &manualSite{addr: "198.51.100.1"}
	p := mustUDPPorts(t, 4)
	a.ike, a.natt, b.ike, b.natt = p[0], p[1], p[2], p[3]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	for _, x := range []struct {
		s, peer      *manualSite
		name, remote string
		start, mtr   string
	}{{b, a, "b", "a", "none", metricsAddr}, {a, b, "a", "b", "trap", ""}} {
		text := fmt.Sprintf(ikeTemplate, x.s.ike, x.s.natt, x.s.addr, x.peer.ike, x.peer.natt, x.name, x.remote, x.start, x.peer.addr, x.mtr)
		cfg, err := config.Parse("trap.toml", []byte(text), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		x.s.d, err = startDaemon(context.Background(), cfg, zaptest.NewLogger(t), daemonOptions{noControl: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(x.s.d.stop)
	}
	time.Sleep(300 * time.Millisecond)
	if st := a.d.status().Connections[0]; len(st.IKESAs) != 0 {
		t.Fatalf("trap connection negotiated before any traffic: %+v", st.IKESAs)
	}
	srvLn, err := b.d.ns.Net().ListenTCPAddrPort(netip.MustParseAddrPort(b.addr + ":80"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "trapped") })}
	go srv.Serve(srvLn)
	defer srv.Close()
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: a.d.ns.Net().DialContext}}
	resp, err := client.Get("http://" + b.addr + "/")
	if err != nil {
		t.Fatalf("GET through a trapped connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "trapped" {
		t.Fatalf("body %q", body)
	}
	st := a.d.status()
	if st.Connections[0].State != "established" || st.Counters["dropped_no_sa"] == 0 {
		t.Fatalf("state %q, dropped_no_sa %d", st.Connections[0].State, st.Counters["dropped_no_sa"])
	}
	mresp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`oakley_network_received_packets_total `, `oakley_sa_packets_total{connection="peer",child="lan",direction="in"`, `oakley_ike_events_total{event="ike_established"} 1`, `oakley_child_up{connection="peer",child="lan"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
	// Both ends' status JSON (IKE SAs, child SAs, counters) follows docs/status.md.
	for _, s := range []*manualSite{a, b} {
		raw, err := json.Marshal(s.d.status())
		if err != nil {
			t.Fatal(err)
		}
		checkStatusJSON(t, raw)
	}
}

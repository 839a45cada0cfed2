package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"oakley/config"
)

// A connection whose peer never answers: start_action = "start", fast retransmissions.
const unansweredTemplate = `
[daemon]
ike_port = %d
natt_port = %d
retransmit_timeout = "100ms"
retransmit_tries = 1

[device]
kind = "netstack"
addresses = ["192.0.2.1/32"]

[[connection]]
name = "silent"
local_addr = "127.0.0.1"
remote_addr = "127.0.0.1"
remote_port = %d
psk = "0123456789abcdef0123456789abcdef-silent-peer"
  [[connection.child]]
  name = "net"
  local_ts = ["192.0.2.0/24"]
  remote_ts = ["198.51.100.0/24"]
`

// TestStatusShowsDownConnection: a configured connection that cannot come up is listed as
// down with its down child, the last error, when it happened and when the next attempt is
// due, in the text and JSON status and as oakley_child_up 0.
func TestStatusShowsDownConnection(t *testing.T) {
	p := mustUDPPorts(t, 3)
	ike, natt, silent := p[0], p[1], p[2] // nobody listens on silent
	cfg, err := config.Parse("silent.toml", []byte(fmt.Sprintf(unansweredTemplate, ike, natt, silent)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d, err := startDaemon(context.Background(), cfg, zaptest.NewLogger(t), daemonOptions{noControl: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	var st *statusReport
	deadline := time.Now().Add(10 * time.Second)
	for {
		st = d.status()
		if c := st.Connections[0]; c.LastError != "" && c.NextAttempt != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no last error and next attempt within 10 s: %+v", st.Connections[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := st.Connections[0]
	if c.State == "established" || c.LastErrorAt == "" || len(c.Children) != 1 || c.Children[0].State == "installed" || childUp(c.Children[0]) {
		t.Errorf("the silent connection: %+v", c)
	}
	var text bytes.Buffer
	writeStatus(&text, st)
	for _, want := range []string{"down: silent, silent/net", "last error: " + c.LastError, "ago)", "next attempt in "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, text.String())
		}
	}
	t.Logf("status:\n%s", text.String())
	var m bytes.Buffer
	writeMetrics(&m, d.metricsInput())
	if !strings.Contains(m.String(), `oakley_child_up{connection="silent",child="net"} 0`) || !strings.Contains(m.String(), `oakley_connection_up{connection="silent",keying="ike"} 0`) {
		t.Errorf("metrics do not show the silent connection down:\n%s", m.String())
	}
}

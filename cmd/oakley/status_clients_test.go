package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"oakley/ike"
)

// A remote-access gateway's status lists each connected client (established IKE SA with a
// lease): the user it logged in as, else its IKE identity, its virtual IPs, since when and its
// traffic; an SA still negotiating and a client connection's own SA are no clients.
func TestStatusClients(t *testing.T) {
	est := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	engine := []ike.ConnStatus{{Name: "rw", Version: 2, IKESAs: []ike.IKESAStatus{
		{Remote: "198.18.0.5:4500", RemoteID: "laptop.example (EAP alice)", User: "alice", VirtualIPs: []string{"2001:db8:c::1"},
			EstablishedAt: &est, Traffic: ike.Traffic{BytesIn: 1000, BytesOut: 2000, PacketsIn: 3, PacketsOut: 4}},
		{Remote: "198.18.0.6:4500", RemoteID: "phone.example", VirtualIPs: []string{"2001:db8:c::2"}, EstablishedAt: &est},
		{Remote: "198.18.0.7:500", RemoteID: "half.example", VirtualIPs: []string{"2001:db8:c::3"}}, // not established
	}}}
	var r ikeRuntime
	gw := connStatus{Name: "rw", Keying: "ike", Children: []childStatus{}}
	r.fillStatus(&gw, engine, nil, true)
	if len(gw.Clients) != 2 {
		t.Fatalf("%d clients, want 2: %+v", len(gw.Clients), gw.Clients)
	}
	a, p := gw.Clients[0], gw.Clients[1]
	if a.Identity != "alice" || a.User != "alice" || a.VirtualIPs[0] != "2001:db8:c::1" || a.Since != "2026-01-02T15:04:05Z" ||
		a.BytesIn != 1000 || a.BytesOut != 2000 || a.PacketsIn != 3 || a.PacketsOut != 4 || a.Peer != "198.18.0.5:4500" {
		t.Fatalf("first client: %+v", a)
	}
	if p.Identity != "phone.example" || p.User != "" || p.VirtualIPs[0] != "2001:db8:c::2" {
		t.Fatalf("second client: %+v", p)
	}
	client := connStatus{Name: "rw", Keying: "ike", Children: []childStatus{}}
	r.fillStatus(&client, engine, nil, false)
	if len(client.Clients) != 0 {
		t.Fatalf("a connection without pools lists clients: %+v", client.Clients)
	}
	var text bytes.Buffer
	writeStatus(&text, &statusReport{Connections: []connStatus{gw}})
	for _, want := range []string{"2 client(s):", "alice  2001:db8:c::1  from 198.18.0.5:4500, since 2026-01-02T15:04:05Z", "in 1000 B, out 2.0 KiB", "phone.example  2001:db8:c::2"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text status lacks %q:\n%s", want, text.String())
		}
	}
}

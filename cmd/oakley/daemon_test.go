package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"oakley/config"
)

const manualTemplate = `
[daemon]
ike_port = %[1]d
natt_port = %[2]d
udp_offload = %[9]v

[device]
kind = "netstack"
addresses = ["%[3]s/32"]

[[connection]]
name = "peer"
keying = "manual"
local_addr = "127.0.0.1"
remote_addr = "127.0.0.1"
remote_natt_port = %[4]d

  [[connection.child]]
  name = "lan"
  local_ts = ["%[5]s"]
  remote_ts = ["%[6]s"]
  esp_proposals = ["%[10]s"]
  in_spi = "%[7]s"
  out_spi = "%[8]s"
  in_key = "%[11]s"
  out_key = "%[12]s"
  in_auth_key = "%[13]s"
  out_auth_key = "%[14]s"
`

type manualSite struct {
	addr, net string
	ike, natt uint16
	d         *daemon
}

func startManualPair(t *testing.T, proposal string, encLen, authLen int, offload bool) (a, b *manualSite) {
	t.Helper()
	a = &manualSite{addr: "192.0.2.1", net: "192.0.2.0/24"}
	b = &manualSite{addr: "198.51.100.1", net: "198.51.100.0/24"}
	p := mustUDPPorts(t, 4)
	a.ike, a.natt, b.ike, b.natt = p[0], p[1], p[2], p[3]
	k1, k2 := strings.Repeat("a1", encLen), strings.Repeat("b2", encLen)
	h1, h2 := strings.Repeat("c3", authLen), strings.Repeat("d4", authLen)
	authKey := func(k string) string {
		if authLen == 0 {
			return ""
		}
		return k
	}
	for _, x := range []struct {
		s, peer        *manualSite
		in, out        string
		ik, ok, ia, oa string
	}{{a, b, "0x00001001", "0x00002002", k1, k2, h1, h2}, {b, a, "0x00002002", "0x00001001", k2, k1, h2, h1}} {
		text := fmt.Sprintf(manualTemplate, x.s.ike, x.s.natt, x.s.addr, x.peer.natt, x.s.net, x.peer.net, x.in, x.out, offload, proposal, x.ik, x.ok, authKey(x.ia), authKey(x.oa))
		if authLen == 0 {
			text = strings.ReplaceAll(strings.ReplaceAll(text, "in_auth_key = \"\"\n", ""), "out_auth_key = \"\"\n", "")
		}
		cfg, err := config.Parse("manual.toml", []byte(text), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		x.s.d, err = startDaemon(context.Background(), cfg, zaptest.NewLogger(t), daemonOptions{noControl: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(x.s.d.stop)
	}
	return a, b
}

func TestManualKeyingHTTP(t *testing.T) {
	for _, c := range []struct {
		prop            string
		encLen, authLen int
		offload         bool
	}{{"aes128gcm16", 20, 0, true}, {"aes256-sha256", 32, 32, false}, {"chacha20poly1305", 36, 0, true}} {
		t.Run(c.prop, func(t *testing.T) {
			a, b := startManualPair(t, c.prop, c.encLen, c.authLen, c.offload)
			ln, err := b.d.ns.Net().ListenTCPAddrPort(netip.MustParseAddrPort(b.addr + ":80"))
			if err != nil {
				t.Fatal(err)
			}
			payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(payload)
			})}
			go srv.Serve(ln)
			defer srv.Close()
			client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: a.d.ns.Net().DialContext}}
			resp, err := client.Get("http://" + b.addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("body: %d bytes, err %v", len(got), err)
			}
			for _, s := range []*manualSite{a, b} {
				r := s.d.status()
				ch := r.Connections[0].Children[0]
				if len(ch.SAs) != 2 || ch.SAs[0].Packets == 0 || ch.SAs[1].Packets == 0 {
					t.Fatalf("SAs %+v", ch.SAs)
				}
				for _, sa := range ch.SAs {
					if len(sa.Errors) > 0 {
						t.Fatalf("errors %v", sa.Errors)
					}
				}
			}
			var out bytes.Buffer
			writeStatus(&out, a.d.status())
			if !strings.Contains(out.String(), "spi 0x00002002") || strings.Contains(out.String(), "a1a1") {
				t.Fatalf("status:\n%s", out.String())
			}
		})
	}
}

func TestParseFlagsInterspersed(t *testing.T) {
	for _, args := range [][]string{{"-s", "/x.sock", "peer/net"}, {"peer/net", "-s", "/x.sock"}, {"peer/net", "-s=/x.sock"}} {
		fs := newFlags("initiate")
		sock := fs.String("s", "", "")
		if err := parseFlags(fs, args); err != nil {
			t.Fatal(err)
		}
		if *sock != "/x.sock" || fs.NArg() != 1 || fs.Arg(0) != "peer/net" {
			t.Fatalf("%v: sock %q args %v", args, *sock, fs.Args())
		}
	}
	fs := newFlags("status")
	fs.Bool("json", false, "")
	if err := parseFlags(fs, []string{"--", "-json"}); err != nil || fs.NArg() != 1 || fs.Arg(0) != "-json" {
		t.Fatalf("-- not honoured: %v %v", err, fs.Args())
	}
	if err := parseFlags(newFlags("x"), []string{"-nope"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

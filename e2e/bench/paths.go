//go:build linux

package main

// The tunnels the harness compares, each set up between the two namespaces.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"oakley/e2e/lab"
)

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// relaySetup starts the relay (relay/main.go) in both namespaces: aead "" moves packets as
// they are, "aes128gcm16" seals each inline.
func relaySetup(aead string) func(*lab.Lab, string, string) ([]*lab.Proc, error) {
	return func(l *lab.Lab, left, right string) ([]*lab.Proc, error) {
		var procs []*lab.Proc
		for _, e := range []struct{ ns, name, addr, route, peer string }{
			{left, "relay-left", innerA, innerB, "198.18.0.2:4500"},
			{right, "relay-right", innerB, innerA, "198.18.0.1:4500"},
		} {
			args := []string{*relayBin, "-dev", "rly0", "-mtu", fmt.Sprint(*tunnelMT), "-addr", e.addr + "/32",
				"-route", e.route + "/32", "-listen", "4500", "-peer", e.peer}
			if aead != "" {
				args = append(args, "-aead", aead)
			}
			p, err := l.Start(e.ns, e.name, nil, args...)
			if err != nil {
				return nil, err
			}
			procs = append(procs, p)
			if err := p.WaitLog("relay up", 10*time.Second); err != nil {
				return nil, err
			}
		}
		return procs, nil
	}
}

const oakleyBenchConfig = `[daemon]
control_socket = "%%SOCKET%%"
log_level = "warn"
workers = %d

[device]
name = "oak0"
mtu = %d
addresses = ["%s/32"]

[[connection]]
name = "bench"
keying = "manual"
local_addr = "%s"
remote_addr = "%s"

  [[connection.child]]
  name = "net"
  local_ts = ["%s/32"]
  remote_ts = ["%s/32"]
  esp_proposals = ["%s"]
  in_spi = "%s"
  out_spi = "%s"
  in_key = "%s"
  out_key = "%s"
%s`

func oakleySetup(bin *string, proposal string, encLen, authLen int) func(*lab.Lab, string, string) ([]*lab.Proc, error) {
	return func(l *lab.Lab, left, right string) ([]*lab.Proc, error) {
		kAB, kBA := randHex(encLen), randHex(encLen)
		aAB, aBA := randHex(authLen), randHex(authLen)
		auth := func(in, out string) string {
			if authLen == 0 {
				return ""
			}
			return fmt.Sprintf("  in_auth_key = \"%s\"\n  out_auth_key = \"%s\"\n", in, out)
		}
		a := fmt.Sprintf(oakleyBenchConfig, *workers, *tunnelMT, innerA, "198.18.0.1", "198.18.0.2", innerA, innerB, proposal,
			"0x00001001", "0x00002002", kBA, kAB, auth(aBA, aAB))
		b := fmt.Sprintf(oakleyBenchConfig, *workers, *tunnelMT, innerB, "198.18.0.2", "198.18.0.1", innerB, innerA, proposal,
			"0x00002002", "0x00001001", kAB, kBA, auth(aAB, aBA))
		var env []string
		if *profile != "" {
			env = append(env, "OAKLEY_PPROF="+pprofAddr)
		}
		pa, err := l.StartOakley(left, *bin, "oakley-left", a, env...)
		if err != nil {
			return nil, err
		}
		pb, err := l.StartOakley(right, *bin, "oakley-right", b, env...)
		if err != nil {
			return nil, err
		}
		oakleys = []*lab.Oakley{pa, pb}
		return []*lab.Proc{pa.Proc, pb.Proc}, nil
	}
}

func setupWireGuard(l *lab.Lab, left, right string) ([]*lab.Proc, error) {
	ka, err := lab.NewWireGuardKey()
	if err != nil {
		return nil, err
	}
	kb, err := lab.NewWireGuardKey()
	if err != nil {
		return nil, err
	}
	dev := "wg" + l.Prefix[len(l.Prefix)-4:]
	pa, err := l.StartWireGuard(left, lab.WireGuard{Bin: *wgBin, Dev: dev + "l", Key: ka, ListenPort: 51820,
		PeerPublic: kb.Public, PeerEndpoint: "198.18.0.2:51820", Address: innerA + "/32",
		AllowedIPs: []string{innerB + "/32"}, MTU: *tunnelMT})
	if err != nil {
		return nil, err
	}
	pb, err := l.StartWireGuard(right, lab.WireGuard{Bin: *wgBin, Dev: dev + "r", Key: kb, ListenPort: 51820,
		PeerPublic: ka.Public, PeerEndpoint: "198.18.0.1:51820", Address: innerB + "/32",
		AllowedIPs: []string{innerA + "/32"}, MTU: *tunnelMT})
	if err != nil {
		return nil, err
	}
	return []*lab.Proc{pa, pb}, nil
}

const charonBenchConfig = `connections {
	bench {
		version = 1
		proposals = aes256-sha256-modp2048
		remote_addrs = %s
		local {
			auth = psk
			id = %s
		}
		remote {
			auth = psk
			id = %s
		}
		children {
			net {
				local_ts = %s/32
				remote_ts = %s/32
				esp_proposals = %s
				start_action = none
			}
		}
	}
}
secrets {
	ike-bench {
		id-1 = left.bench.example
		id-2 = right.bench.example
		secret = "%s"
	}
}
`

func charonSetup(esp string) func(*lab.Lab, string, string) ([]*lab.Proc, error) {
	return func(l *lab.Lab, left, right string) ([]*lab.Proc, error) {
		psk := randHex(24)
		for _, x := range []struct{ ns, inner string }{{left, innerA}, {right, innerB}} {
			if err := l.Addr(x.ns, "lo", x.inner+"/32"); err != nil {
				return nil, err
			}
		}
		cl, err := l.StartCharon(left, "charon-left", fmt.Sprintf(charonBenchConfig, "198.18.0.2", "left.bench.example", "right.bench.example", innerA, innerB, esp, psk), nil, "")
		if err != nil {
			return nil, err
		}
		cr, err := l.StartCharon(right, "charon-right", fmt.Sprintf(charonBenchConfig, "%any", "right.bench.example", "left.bench.example", innerB, innerA, esp, psk), nil, "")
		if err != nil {
			return nil, err
		}
		if out, err := cl.Swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
			return nil, fmt.Errorf("swanctl --initiate: %v: %s", err, out)
		}
		// libipsec's TUN keeps its hard-coded MTU of 1400: raising it to the others' 1420
		// makes full-sized TCP segments vanish inside libipsec (measured: 0 Gbit/s).
		return []*lab.Proc{cl.Proc, cr.Proc}, nil
	}
}

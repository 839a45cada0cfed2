package main

// `oakley demo`: two oakley peers in one unprivileged process. Each has a userspace network
// stack (no TUN, no root); they talk IKE and ESP-in-UDP to each other over real UDP sockets on
// loopback; site B serves HTTP inside its tunnel address and site A fetches it through the
// tunnel. It prints what happened and fails if anything did not cross.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"oakley/config"
)

// demoTemplate is the embedded configuration of one demo site. With keying = "manual" the
// two sites share fixed SAs whose keys the demo draws at random for this run only.
const demoTemplate = `# embedded demo configuration: site %[1]s
[daemon]
log_level = "warn"
ike_port = %[2]d
natt_port = %[3]d

[device]
kind = "netstack"
addresses = ["%[4]s/32"]
mtu = 1400

[[connection]]
name = "demo"
keying = "%[11]s"
local_addr = "127.0.0.1"
remote_addr = "127.0.0.1"
remote_port = %[5]d
remote_natt_port = %[6]d
%[12]s
  [[connection.child]]
  name = "lan"
  local_ts = ["%[9]s"]
  remote_ts = ["%[10]s"]
  esp_proposals = ["aes128gcm16"]
%[13]s`

// demoIKE is the IKE part of a demo connection: IKEv2 with a pre-shared key.
const demoIKE = `version = 2
local_id = "site-%[1]s.demo.example"
remote_id = "site-%[2]s.demo.example"
psk = "%[3]s"
proposals = ["aes256-sha256-ecp256"]
start_action = "%[4]s"
dpd_delay = "0"
`

// demoManual is the manual-keying part of a demo child (RFC 4301 §4.5).
const demoManual = `  in_spi = "%[1]s"
  out_spi = "%[2]s"
  in_key = "%[3]s"
  out_key = "%[4]s"
`

// demoUsesIKE says whether the demo negotiates with IKE or installs fixed SAs.
var demoUsesIKE = ikeAvailable

type demoSite struct {
	name, addr, net, peerNet string
	ike, natt                uint16
	cfg                      *config.Config
	d                        *daemon
}

// freeUDPPorts picks n distinct free UDP ports the way the daemon binds them (IPv4, every
// address). Every socket stays open until all are picked: a port just closed can come back
// from the next bind, and two sites on one port cannot both listen.
func freeUDPPorts(n int) ([]uint16, error) {
	ports := make([]uint16, 0, n)
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		ports = append(ports, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	}
	return ports, nil
}

// demoAttempts bounds how often the demo picks new ports when another process took one
// between the pick and the daemon's bind.
const demoAttempts = 3

func cmdDemo(args []string, stdout io.Writer) error {
	fs := newFlags("demo")
	verbose := fs.Bool("v", false, "show the daemons' logs")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := runDemo(*verbose, stdout)
		if !errors.Is(err, errPortTaken) || attempt == demoAttempts {
			return err
		}
		fmt.Fprintf(stdout, "oakley demo: %v; picking other ports\n", err)
	}
}

// errPortTaken marks a demo run whose daemon could not bind a port it had picked.
var errPortTaken = errors.New("a picked port was taken")

func runDemo(verbose bool, stdout io.Writer) error {
	a := &demoSite{name: "a", addr: "192.0.2.1", net: "192.0.2.0/24", peerNet: "198.51.100.0/24"}
	b := &demoSite{name: "b", addr: "198.51.100.1", net: "198.51.100.0/24", peerNet: "192.0.2.0/24"}
	ports, err := freeUDPPorts(4)
	if err != nil {
		return err
	}
	a.ike, a.natt, b.ike, b.natt = ports[0], ports[1], ports[2], ports[3]
	secret := func(n int) string {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		return hex.EncodeToString(b)
	}
	psk, keyAB, keyBA := secret(32), secret(20), secret(20)
	for _, s := range []*demoSite{a, b} {
		peer, start := b, "start"
		inSPI, outSPI, inKey, outKey := "0x00001001", "0x00002002", keyBA, keyAB
		if s == b {
			peer, start = a, "none"
			inSPI, outSPI, inKey, outKey = outSPI, inSPI, keyAB, keyBA
		}
		keying, ikePart, childPart := "manual", "", fmt.Sprintf(demoManual, inSPI, outSPI, inKey, outKey)
		if demoUsesIKE {
			keying, ikePart, childPart = "ike", fmt.Sprintf(demoIKE, s.name, peer.name, psk, start), ""
		}
		text := fmt.Sprintf(demoTemplate, s.name, s.ike, s.natt, s.addr, peer.ike, peer.natt, peer.name, start,
			s.net, s.peerNet, keying, ikePart, childPart)
		cfg, err := config.Parse("demo-site-"+s.name+".toml", []byte(text), "")
		if err != nil {
			return fmt.Errorf("embedded demo configuration: %w", err)
		}
		s.cfg = cfg
		defer cfg.Wipe()
	}
	level := "warn"
	if verbose {
		level = "debug"
	}
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return err
	}
	log, err := newLoggerAt(lvl, "console", os.Stderr)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fmt.Fprintf(stdout, "oakley demo: two peers in this process, no root, real UDP on 127.0.0.1\n")
	for _, s := range []*demoSite{b, a} {
		s.d, err = startDaemon(ctx, s.cfg, log.Named("site-"+s.name), daemonOptions{noControl: true})
		if isAddrInUse(err) {
			return fmt.Errorf("%w: site %s: %w", errPortTaken, s.name, err)
		}
		if err != nil {
			return fmt.Errorf("site %s: %w", s.name, err)
		}
		defer s.d.stop()
		fmt.Fprintf(stdout, "  site %s: tunnel address %s, LAN %s, IKE on udp/%d, ESP-in-UDP on udp/%d\n", strings.ToUpper(s.name), s.addr, s.net, s.ike, s.natt)
	}
	// Teardown: packets still in flight when one side has deleted its SAs are refused and
	// counted; that is expected at the end of the demo, not worth a warning on its output.
	defer func() {
		if !verbose {
			lvl.SetLevel(zap.ErrorLevel)
		}
	}()

	// Site B serves HTTP on its tunnel address, inside its userspace stack.
	ln, err := b.d.ns.Net().ListenTCPAddrPort(netip.MustParseAddrPort(b.addr + ":80"))
	if err != nil {
		return fmt.Errorf("site B HTTP listener: %w", err)
	}
	body := strings.Repeat("oakley carried this through ESP. ", 2000)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from site B\n%s", r.RemoteAddr, body)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck
	defer srv.Close()

	start := time.Now()
	if err := a.d.waitChildren(ctx, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  tunnel up after %s\n", time.Since(start).Round(time.Millisecond))

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: a.d.ns.Net().DialContext}}
	url := "http://" + b.addr + "/"
	fmt.Fprintf(stdout, "  site A: GET %s (through the tunnel)\n", url)
	t0 := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	first, _, _ := strings.Cut(string(got), "\n")
	fmt.Fprintf(stdout, "  site B answered %s: %q and %d more bytes in %s\n", resp.Status, first, len(got)-len(first)-1, time.Since(t0).Round(time.Millisecond))
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(string(got), body) {
		return errors.New("demo: the response did not arrive intact")
	}
	for _, s := range []*demoSite{a, b} {
		fmt.Fprintf(stdout, "\n--- site %s: oakley status ---\n", strings.ToUpper(s.name))
		writeStatus(stdout, s.d.status())
	}
	if err := demoCheck(a, b); err != nil {
		return err
	}
	how := "manually keyed SAs (RFC 4301 §4.5)"
	if demoUsesIKE {
		how = "IKEv2 (IKE_SA_INIT + IKE_AUTH with the child SA)"
	}
	fmt.Fprintf(stdout, "\ndemo OK: %s, ESP carried HTTP both ways, no packet refused\n", how)
	_ = log.Sync()
	return nil
}

// demoCheck asserts that traffic crossed in both directions and nothing was refused.
func demoCheck(sites ...*demoSite) error {
	for _, s := range sites {
		r := s.d.status()
		var in, out uint64
		for _, c := range r.Connections {
			for _, ch := range c.Children {
				for _, sa := range ch.SAs {
					if len(sa.Errors) > 0 {
						return fmt.Errorf("demo: site %s SA %s refused packets: %s", s.name, sa.SPI, formatCounts(sa.Errors))
					}
					if sa.Dir == "in" {
						in += sa.Packets
					} else {
						out += sa.Packets
					}
				}
			}
		}
		if in == 0 || out == 0 {
			return fmt.Errorf("demo: site %s saw %d packets in, %d out", s.name, in, out)
		}
	}
	return nil
}

// waitChildren waits until every child of every connection has an outbound SA.
func (d *daemon) waitChildren(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		missing := ""
		for _, p := range d.policies() {
			if p.Binding() == nil {
				missing = p.Name
				break
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: %s has no SA after %s", missing, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

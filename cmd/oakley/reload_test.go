package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"oakley/config"
	"oakley/esp"
)

// reloadHeader is a netstack daemon's [daemon] and [device] tables (no root needed).
const reloadHeader = `[daemon]
ike_port = %d
natt_port = %d
log_level = %q

[device]
kind = "netstack"
mtu = %d
addresses = ["192.0.2.1/32"]
`

// manualConn renders a manually keyed connection with one child protecting 192.0.2.1 ↔ host
// .n of 198.51.100.0/24, with SPIs spi (in) and spi+1 (out) and keys from seed.
func manualConn(name string, n int, spi uint32, seed byte, encap string) string {
	key := strings.Repeat(fmt.Sprintf("%02x", seed), 20)
	key2 := strings.Repeat(fmt.Sprintf("%02x", seed+1), 20)
	return fmt.Sprintf(`
[[connection]]
name = %q
keying = "manual"
local_addr = "127.0.0.1"
remote_addr = "127.0.0.1"
encap = %q
  [[connection.child]]
  name = "net"
  local_ts = ["192.0.2.1/32"]
  remote_ts = ["198.51.100.%d/32"]
  esp_proposals = ["aes128gcm16"]
  in_spi = "0x%08x"
  out_spi = "0x%08x"
  in_key = %q
  out_key = %q
`, name, encap, n, spi, spi+1, key, key2)
}

const reloadIKEConn = `
[[connection]]
name = "ike-new"
local_addr = "127.0.0.1"
remote_addr = "127.0.0.1"
psk = "0123456789abcdef0123456789abcdef-reload-test"
start_action = "none"
  [[connection.child]]
  name = "net"
  local_ts = ["192.0.2.1/32"]
  remote_ts = ["198.51.100.99/32"]
`

type reloadSite struct {
	path      string
	ike, natt uint16
	level     zap.AtomicLevel
	d         *daemon
}

func (s *reloadSite) write(t *testing.T, level string, mtu int, conns ...string) {
	t.Helper()
	text := fmt.Sprintf(reloadHeader, s.ike, s.natt, level, mtu) + strings.Join(conns, "")
	if err := os.WriteFile(s.path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startReloadSite(t *testing.T, conns ...string) *reloadSite {
	t.Helper()
	s := &reloadSite{path: filepath.Join(t.TempDir(), "site.toml"), level: zap.NewAtomicLevelAt(zap.InfoLevel)}
	p := mustUDPPorts(t, 2)
	s.ike, s.natt = p[0], p[1]
	s.write(t, "info", 1400, conns...)
	cfg, err := config.Load(s.path)
	if err != nil {
		t.Fatal(err)
	}
	s.d, err = startDaemon(context.Background(), cfg, zaptest.NewLogger(t), daemonOptions{noControl: true, level: &s.level})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.d.stop(); s.d.wipeSecrets() })
	return s
}

// manualSAs returns the in and out SA of each manual connection by name.
func (s *reloadSite) manualSAs() map[string][2]*esp.SA {
	_, children := s.d.state()
	out := map[string][2]*esp.SA{}
	for _, r := range children {
		out[r.conn.Name] = [2]*esp.SA{r.in, r.out}
	}
	return out
}

// TestReloadManual: a reload keeps an unchanged manual connection's SAs (the same objects),
// retires a changed one's and a removed one's, installs a new one, applies log_level, and
// leaves [device] and what needs sockets the daemon never opened as they were, saying so.
func TestReloadManual(t *testing.T) {
	s := startReloadSite(t, manualConn("keep", 1, 0x1000, 0x11, "udp"), manualConn("edit", 2, 0x2000, 0x22, "udp"), manualConn("drop", 3, 0x3000, 0x33, "udp"))
	before := s.manualSAs()
	s.write(t, "debug", 1300, manualConn("keep", 1, 0x1000, 0x11, "udp"), manualConn("edit", 2, 0x2000, 0x44, "udp"),
		manualConn("new", 4, 0x4000, 0x55, "udp"), manualConn("raw", 5, 0x5000, 0x66, "raw"), reloadIKEConn)
	rep, err := s.d.reload("test")
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !slices.Equal(rep.Added, []string{"new"}) || !slices.Equal(rep.Removed, []string{"drop"}) ||
		!slices.Equal(rep.Changed, []string{"edit"}) || !slices.Equal(rep.Unchanged, []string{"keep"}) {
		t.Errorf("reload report %+v; want added [new], removed [drop], changed [edit], unchanged [keep]", rep)
	}
	for _, want := range []string{"[device]", "connection raw: encap", "connection ike-new: the first IKE connection"} {
		if !slices.ContainsFunc(rep.NeedsRestart, func(n string) bool { return strings.HasPrefix(n, want) }) {
			t.Errorf("needs_restart %q lacks %q", rep.NeedsRestart, want)
		}
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors %q", rep.Errors)
	}
	after := s.manualSAs()
	if after["keep"] != before["keep"] || after["keep"][0].Expired() {
		t.Error("the unchanged connection's SAs were replaced or retired")
	}
	for _, name := range []string{"edit", "drop"} {
		if !before[name][0].Expired() || !before[name][1].Expired() {
			t.Errorf("the old SAs of %s were not retired", name)
		}
	}
	if _, ok := after["drop"]; ok {
		t.Error("the removed connection still has SAs")
	}
	for _, name := range []string{"edit", "new"} {
		sas, ok := after[name]
		if !ok || sas[0] == nil || sas[0].Expired() || sas == before[name] {
			t.Errorf("%s: no fresh SAs after the reload", name)
		}
	}
	if _, ok := after["raw"]; ok {
		t.Error("a raw-ESP connection was installed without a raw socket")
	}
	cfg, _ := s.d.state()
	if cfg.Device.MTU != 1400 || s.level.Level() != zap.DebugLevel {
		t.Errorf("after reload: device mtu %d (want 1400, kept), log level %v (want debug)", cfg.Device.MTU, s.level.Level())
	}
	var names []string
	for _, c := range s.d.status().Connections {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"keep", "edit", "new"}) {
		t.Errorf("status lists %v after the reload; want [keep edit new]", names)
	}

	// A file with errors changes nothing and says where.
	cfgBefore, childrenBefore := s.d.state()
	if err := os.WriteFile(s.path, []byte(fmt.Sprintf(reloadHeader, s.ike, s.natt, "loud", 1400)+manualConn("keep", 1, 0x1000, 0x11, "udp")+"\n[[connection]]\nname = 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.d.reload("test")
	var errs config.Errors
	if !errors.Is(err, errReloadRefused) || !errors.As(err, &errs) || len(errs) < 2 {
		t.Fatalf("reload of a broken file: %v; want errReloadRefused with config errors", err)
	}
	resp := s.d.control(controlRequest{Cmd: "reload"})
	pos := regexp.MustCompile(`^` + regexp.QuoteMeta(s.path) + `:\d+: `)
	if resp.OK || len(resp.Errors) < 2 || !pos.MatchString(resp.Errors[0]) || !strings.Contains(resp.Error, "nothing changed") {
		t.Errorf("control reload of a broken file: %+v; want every error as file:line", resp)
	}
	cfgAfter, childrenAfter := s.d.state()
	if cfgAfter != cfgBefore || !slices.Equal(childrenAfter, childrenBefore) || s.manualSAs()["keep"][0].Expired() {
		t.Error("a refused reload changed the configuration or the SAs")
	}
	if s.d.reloads.failed.Load() != 2 || s.d.reloads.ok.Load() != 1 {
		t.Errorf("reload counters ok %d failed %d; want 1 and 2", s.d.reloads.ok.Load(), s.d.reloads.failed.Load())
	}
}

// TestReloadAfterStop: no reload runs once the daemon stops.
func TestReloadAfterStop(t *testing.T) {
	s := startReloadSite(t, manualConn("keep", 1, 0x1000, 0x11, "udp"))
	s.d.stop()
	if _, err := s.d.reload("test"); err == nil {
		t.Fatal("reload after stop succeeded")
	}
}

// TestControlSocketRemovedOnFailedStart: a start that fails after the control socket exists
// (here: the metrics port is taken) removes the socket again.
func TestControlSocketRemovedOnFailedStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p := mustUDPPorts(t, 2)
	ike, natt := p[0], p[1]
	sock := filepath.Join(t.TempDir(), "oakley.sock")
	text := fmt.Sprintf(reloadHeader, ike, natt, "info", 1400) + manualConn("keep", 1, 0x1000, 0x11, "udp")
	text = strings.Replace(text, "[daemon]\n", fmt.Sprintf("[daemon]\ncontrol_socket = %q\nmetrics = %q\n", sock, taken.Addr().String()), 1)
	cfg, err := config.Parse("fail.toml", []byte(text), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Wipe()
	if _, err := startDaemon(context.Background(), cfg, zaptest.NewLogger(t), daemonOptions{}); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("start with the metrics port taken: %v", err)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("control socket %s left behind by a failed start", sock)
	}
}

// TestReloadWhileStatusRuns: status, metrics and control lookups run concurrently with
// reloads (run with -race).
func TestReloadWhileStatusRuns(t *testing.T) {
	s := startReloadSite(t, manualConn("keep", 1, 0x1000, 0x11, "udp"))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.d.status()
			s.d.metricsInput()
			s.d.connection("keep", "net")
			s.d.policies()
		}
	}()
	for i := range 6 {
		conns := []string{manualConn("keep", 1, 0x1000, 0x11, "udp")}
		if i%2 == 0 {
			conns = append(conns, manualConn("other", 2, 0x2000, byte(0x20+i), "udp"))
		}
		s.write(t, "info", 1400, conns...)
		if _, err := s.d.reload("test"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
}

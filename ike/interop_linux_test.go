//go:build linux

package ike

// Live interop with a real strongSwan (charon 5.9, kernel-libipsec) in throw-away network
// namespaces built by the harness in /work/shared/interop/strongswan (SWNS_PREFIX=ikx).
// Our side runs in ikx-left with the real esp.Dataplane on UDP sockets opened inside that
// namespace and an in-memory device: ICMP echo requests go in, the replies strongSwan's
// kernel sends back must come out. Skipped unless root, charon and the harness exist
// (and with -short).

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"

	"oakley/crypto"
	"oakley/esp"
)

const (
	harnessDir = "/work/shared/interop/strongswan"
	interopPSK = "interop-test-psk-0123456789"
)

// interopNSPfx names this run's namespaces (ikxNNNN-left/-right): unique per process, so
// concurrent test runs on one machine do not trip over each other's namespaces.
var interopNSPfx = fmt.Sprintf("ikx%04x", os.Getpid()&0xffff)

var (
	leftInner  = netip.MustParseAddr("192.0.2.1")
	rightInner = netip.MustParseAddr("198.51.100.1")
	rightIP    = netip.MustParseAddr("198.18.0.2")
)

func interopHarness(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("interop with strongSwan skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("interop with strongSwan needs root (network namespaces)")
	}
	// Opt-in: the e2e suite runs the same interop through the real binary in `make test`;
	// this in-process variant (minutes) runs with `make interop-harness`.
	dir := os.Getenv("OAKLEY_SWAN_HARNESS")
	if dir == "" {
		t.Skip("in-process strongSwan interop: set OAKLEY_SWAN_HARNESS=" + harnessDir + " (make interop-harness)")
	}
	for _, f := range []string{"/usr/lib/ipsec/charon", "/usr/sbin/swanctl", dir + "/netns.sh", dir + "/peer.sh"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("interop with strongSwan skipped: %s missing", f)
		}
	}
	return dir
}

// interopCase is one scenario against charon.
type interopCase struct {
	name       string
	topology   string // direct | nat
	weInitiate bool
	aggressive bool
	ike        string // proposal text (both sides)
	esp        string
	insecure   bool
	swanExtra  string // extra lines in strongSwan's connection
	swanChild  string // extra lines in strongSwan's child
	check      func(t *testing.T, s *interopSession)
	pings      int
	wantEncap  esp.Encap
	tweakOurs  func(c *Connection)
	noInitiate bool // the check drives everything
}

// interopSession is one running scenario.
type interopSession struct {
	t       *testing.T
	dir     string
	state   string // charon's STATE dir
	engine  *Engine
	dp      *esp.Dataplane
	dev     *chanDevice
	policy  *esp.Policy
	logs    *observer.ObservedLogs
	cancel  context.CancelFunc
	runDone chan struct{}
	seq     atomic.Uint32
	replies chan uint16
	ourIP   netip.Addr
	tc      interopCase
}

func TestStrongSwanInterop(t *testing.T) {
	dir := interopHarness(t)
	cases := []interopCase{
		{name: "MM-PSK-initiator", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", pings: 5},
		{name: "MM-PSK-responder", ike: "aes256-sha256-modp2048", esp: "aes256-sha256", pings: 5},
		{name: "MM-PSK-PFS-initiator", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256-modp2048", pings: 5},
		{name: "MM-PSK-PFS-responder", ike: "aes256-sha256-modp2048", esp: "aes256-sha256-modp2048", pings: 5},
		{name: "AM-PSK-initiator", weInitiate: true, aggressive: true, insecure: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", pings: 5},
		{name: "AM-PSK-responder", aggressive: true, insecure: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", pings: 5},
		{name: "AM-PSK-PFS-initiator", weInitiate: true, aggressive: true, insecure: true, ike: "aes256-sha256-modp2048", esp: "aes128gcm16-modp2048", pings: 5},
		{name: "MM-ECP256-GCM-initiator", weInitiate: true, ike: "aes128-sha256-ecp256", esp: "aes128gcm16", pings: 5},
		{name: "MM-ECP256-GCM-responder", ike: "aes128-sha256-ecp256", esp: "aes128gcm16-ecp256", pings: 5},
		{name: "MM-AES128-SHA1-MODP1024-initiator", weInitiate: true, insecure: true, ike: "aes128-sha1-modp1024", esp: "aes128-sha1", pings: 5},
		{name: "MM-AES128-SHA1-MODP1024-responder", insecure: true, ike: "aes128-sha1-modp1024", esp: "aes128-sha1", pings: 5},
		{name: "MM-3DES-SHA384-curve25519-initiator", weInitiate: true, ike: "3des-sha384-curve25519", esp: "aes192-sha512", pings: 3},
		{name: "MM-NAT-initiator", topology: "nat", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", pings: 5},
		{name: "rekey-child-under-ping", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256-modp2048", check: checkRekeyUnderPing},
		{name: "peer-rekeys-child-under-ping", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", check: checkPeerRekeyUnderPing},
		{name: "reauth-ike", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", check: checkReauth},
		{name: "strongswan-DPD", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", swanExtra: "dpd_delay = 1s", check: checkPeerDPD},
		{name: "our-DPD", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", tweakOurs: func(c *Connection) { c.DPDDelay, c.DPDTimeout = time.Second, 5*time.Second }, check: checkOurDPD},
		{name: "strongswan-terminates", weInitiate: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", check: checkPeerDelete},
		{name: "we-terminate", ike: "aes256-sha256-modp2048", esp: "aes256-sha256", check: checkWeTerminate},
		{name: "ike-scan-main", ike: "aes256-sha256-modp2048", esp: "aes256-sha256", noInitiate: true, check: checkIKEScan},
		{name: "ike-scan-aggressive", aggressive: true, insecure: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256", noInitiate: true, check: checkIKEScan},
		{name: "psk-crack-aggressive-sha1", aggressive: true, insecure: true, ike: "aes256-sha1-modp2048", esp: "aes256-sha256", noInitiate: true, check: checkPSKCrack},
	}
	if f := os.Getenv("OAKLEY_INTEROP_CASES"); f != "" {
		var sel []interopCase
		for _, c := range cases {
			if strings.Contains(","+f+",", ","+c.name+",") {
				sel = append(sel, c)
			}
		}
		cases = sel
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runInterop(t, dir, tc) })
	}
}

func runInterop(t *testing.T, dir string, tc interopCase) {
	s := startInterop(t, dir, tc)
	if tc.noInitiate {
		tc.check(t, s)
		s.stop()
		return
	}
	start := time.Now()
	if tc.weInitiate {
		if err := s.engine.Initiate("c", ""); err != nil {
			s.fail("Initiate: %v", err)
		}
	} else {
		out, err := s.swanctl("--initiate", "--child", "net", "--timeout", "20")
		if err != nil {
			s.fail("strongSwan --initiate: %v\n%s", err, out)
		}
	}
	t.Logf("established in %v", time.Since(start).Round(time.Millisecond))
	s.waitChild(10 * time.Second)
	if tc.pings > 0 {
		s.pingAll(tc.pings)
	}
	if tc.check != nil {
		tc.check(t, s)
	}
	s.stop()
}

func startInterop(t *testing.T, dir string, tc interopCase) *interopSession {
	t.Helper()
	topo := tc.topology
	if topo == "" {
		topo = "direct"
	}
	env := append(os.Environ(), "SWNS_PREFIX="+interopNSPfx)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(dir+"/netns.sh", "up", topo); err != nil {
		t.Fatalf("netns.sh up: %v\n%s", err, out)
	}
	t.Cleanup(func() { run(dir+"/netns.sh", "down") })

	s := &interopSession{t: t, dir: dir, replies: make(chan uint16, 1024), ourIP: netip.MustParseAddr("198.18.0.1"), tc: tc}
	if topo == "nat" {
		s.ourIP = netip.MustParseAddr("198.18.1.1")
	}
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "swanctl.conf"), []byte(swanConfig(tc, s.ourIP, topo)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dir+"/peer.sh", "start", interopNSPfx+"-right", conf)
	cmd.Env = append(env, "CHARON_LOGSUBSYS=ike=2 chd=2 knl=1 net=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("peer.sh start: %v", err)
	}
	s.state = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(s.state, "charon.log")); err == nil {
				t.Logf("charon log:\n%s", tail(string(b), 80))
			}
		}
		c := exec.Command(dir+"/peer.sh", "stop", s.state)
		c.Env = env
		c.CombinedOutput()
		os.Remove(strings.TrimSuffix(s.state, "/") + ".log") // peer.sh keeps the log there
	})
	s.startOurs(tc)
	return s
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func swanConfig(tc interopCase, ourIP netip.Addr, topo string) string {
	remote := "%any"
	if !tc.weInitiate {
		remote = ourIP.String()
		if topo == "nat" {
			remote = "198.18.0.254"
		}
	}
	agg := "no"
	if tc.aggressive {
		agg = "yes"
	}
	return fmt.Sprintf(`connections {
	c {
		version = 1
		aggressive = %s
		proposals = %s
		local_addrs = 198.18.0.2
		remote_addrs = %s
		%s
		local {
			auth = psk
			id = right.test
		}
		remote {
			auth = psk
			id = left.test
		}
		children {
			net {
				local_ts = 198.51.100.1/32
				remote_ts = 192.0.2.1/32
				esp_proposals = %s
				start_action = none
				%s
			}
		}
	}
}
secrets {
	ike-c {
		id-1 = left.test
		id-2 = right.test
		secret = "%s"
	}
}
`, agg, tc.ike, remote, tc.swanExtra, tc.esp, tc.swanChild, interopPSK)
}

// inNetns runs f on a thread switched into a named network namespace.
func inNetns(name string, f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("restoring the network namespace: %v", err) // thread stays locked and dies
	}
	runtime.UnlockOSThread()
	return ferr
}

func (s *interopSession) startOurs(tc interopCase) {
	t := s.t
	ikeP, err := crypto.ParseProposal(crypto.ProtoIKEv1, tc.ike, tc.insecure)
	if err != nil {
		t.Fatal(err)
	}
	espP, err := crypto.ParseProposal(crypto.ProtoESP, tc.esp, tc.insecure)
	if err != nil {
		t.Fatal(err)
	}
	local, remote := []esp.Selector{esp.SelectorFor(netip.PrefixFrom(leftInner, 32))}, []esp.Selector{esp.SelectorFor(netip.PrefixFrom(rightInner, 32))}
	c := &Connection{
		Name: "c", Version: 1, Aggressive: tc.aggressive, LocalAddr: s.ourIP, RemoteAddr: rightIP,
		LocalID: FQDNIdentity("left.test"), RemoteID: FQDNIdentity("right.test"), PSK: crypto.Key(interopPSK),
		Proposals: []*crypto.Proposal{ikeP}, RekeyTime: time.Hour, Encap: "udp", InsecureAlgorithms: tc.insecure,
		StartAction: "none",
		Children: []*Child{{Name: "net", LocalTS: local, RemoteTS: remote,
			ESPProposals: []*crypto.Proposal{espP}, RekeyTime: 30 * time.Minute, ReplayWindow: 128}},
	}
	if tc.tweakOurs != nil {
		tc.tweakOurs(c)
	}
	lc, obs := observer.New(zap.DebugLevel)
	s.logs = obs
	log := zap.New(lc)
	if os.Getenv("OAKLEY_INTEROP_VERBOSE") != "" {
		l, _ := zap.NewDevelopment()
		log = zap.New(zapcore.NewTee(lc, l.Core()))
	}
	s.dev = newChanDevice()
	var engine *Engine
	var natt, ikeb conn.Bind
	err = inNetns(interopNSPfx+"-left", func() error {
		natt, ikeb = conn.NewStdNetBind(), conn.NewStdNetBind()
		var err error
		s.dp, err = esp.New(esp.Options{Device: s.dev, NATT: natt, IKE: ikeb, NATTPort: 4500, IKEPort: 500, Workers: 1, Log: log,
			OnIKE: func(m []byte, from, local netip.AddrPort) {
				if engine != nil {
					engine.HandleMessage(m, from, local)
				}
			}})
		return err
	})
	if err != nil {
		t.Fatalf("data plane in %s-left: %v", interopNSPfx, err)
	}
	cfg := Config{}
	cfg.Connections, cfg.Dataplane, cfg.Log = []*Connection{c}, s.dp, log.Named("oakley")
	engine, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.policy = engine.Policies()[0]
	s.engine = engine
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.runDone = make(chan struct{})
	go func() { engine.Run(ctx); close(s.runDone) }()
	s.dp.Start()
	go s.readReplies()
	t.Cleanup(s.stop)
}

func (s *interopSession) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	<-s.runDone
	s.dp.Close()
	s.dev.Close()
	s.dp.Wait()
	if s.t.Failed() {
		for _, e := range s.logs.All() {
			enc := zapcore.NewMapObjectEncoder()
			for _, f := range e.Context {
				f.AddTo(enc)
			}
			s.t.Logf("oakley %s: %s %v", e.Level, e.Message, enc.Fields)
		}
	}
}

func (s *interopSession) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf(format, args...)
}

func (s *interopSession) swanctl(args ...string) (string, error) {
	cmd := exec.Command(s.dir+"/peer.sh", append([]string{"ctl", s.state}, args...)...)
	cmd.Env = append(os.Environ(), "SWNS_PREFIX="+interopNSPfx)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitChild waits until our child has an active outbound SA.
func (s *interopSession) waitChild(d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b := s.policy.Binding(); b != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.fail("no outbound SA installed after %v", d)
}

// pingAll waits for the tunnel to carry a first echo (the peer installs its policies
// after Quick Mode message 3, so the very first packet may race it), then sends n echo
// requests and expects n replies.
func (s *interopSession) pingAll(n int) {
	s.t.Helper()
	ok := false
	for i := 0; i < 5 && !ok; i++ {
		ok = s.ping(time.Second)
	}
	if !ok {
		s.fail("no echo reply through the tunnel")
	}
	for i := 0; i < n; i++ {
		if !s.ping(3 * time.Second) {
			s.fail("ping %d of %d: no reply through the tunnel", i+1, n)
		}
	}
}

// ping sends one echo request and waits for its reply.
func (s *interopSession) ping(wait time.Duration) bool {
	seq := uint16(s.seq.Add(1))
	s.dev.inject(icmpEcho(leftInner, rightInner, 0x4f4b, seq))
	deadline := time.After(wait)
	for {
		select {
		case got := <-s.replies:
			if got == seq {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func (s *interopSession) readReplies() {
	for p := range s.dev.out {
		if len(p) >= 28 && p[0]>>4 == 4 && p[9] == 1 && p[20] == 0 {
			s.replies <- binary.BigEndian.Uint16(p[26:28])
		}
	}
}

func (s *interopSession) counter(name string) uint64 { return s.engine.Counters()[name] }

func (s *interopSession) ourChildren() []ChildStatus {
	var out []ChildStatus
	for _, c := range s.engine.Status() {
		if c.Name != "c" {
			continue
		}
		for _, ch := range c.Children {
			if ch.SPIIn != "" { // installed pairs, not the configured units that are down
				out = append(out, ch)
			}
		}
	}
	return out
}

func (s *interopSession) swanSAs() string {
	out, _ := s.swanctl("--list-sas")
	return out
}

// chanDevice is an esp.Device fed by a channel.
type chanDevice struct {
	in     chan []byte
	out    chan []byte
	closed chan struct{}
	once   sync.Once
}

func newChanDevice() *chanDevice {
	return &chanDevice{in: make(chan []byte, 256), out: make(chan []byte, 256), closed: make(chan struct{})}
}

func (d *chanDevice) inject(p []byte) { d.in <- p }

func (d *chanDevice) BatchSize() int { return 1 }

func (d *chanDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case <-d.closed:
		return 0, os.ErrClosed
	case p := <-d.in:
		sizes[0] = copy(bufs[0][offset:], p)
		return 1, nil
	}
}

func (d *chanDevice) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		select {
		case <-d.closed:
			return i, os.ErrClosed
		case d.out <- append([]byte(nil), b[offset:]...):
		default:
		}
	}
	return len(bufs), nil
}

func (d *chanDevice) Close() {
	d.once.Do(func() {
		close(d.closed)
		close(d.out)
	})
}

// icmpEcho builds an IPv4 ICMP echo request.
func icmpEcho(src, dst netip.Addr, id, seq uint16) []byte {
	payload := bytes.Repeat([]byte("oakley"), 8)
	icmp := make([]byte, 8+len(payload))
	icmp[0] = 8
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[8:], payload)
	binary.BigEndian.PutUint16(icmp[2:], inetChecksum(icmp))
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(icmp)))
	ip[8] = 64
	ip[9] = 1
	copy(ip[12:16], src.AsSlice())
	copy(ip[16:20], dst.AsSlice())
	binary.BigEndian.PutUint16(ip[10:], inetChecksum(ip))
	return append(ip, icmp...)
}

func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

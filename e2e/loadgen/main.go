//go:build linux

// Command loadgen brings up many IKEv1 peers against one responder, like strongSwan's
// load-tester: one in-process oakley IKE engine (ike/) and data plane (esp/) hold N
// connections, each with its own outer address of the namespace it runs in (sent from with
// IP_PKTINFO), its own identity and its own inner address; the data plane's device is in
// memory, so every tunnel can carry an echo request of its own and the generator sees the
// reply come back through the tunnel. It only initiates; the responder under test is a real
// `oakley up`.
//
// Phases, each reported as one JSON line on stdout:
//
//	{"phase":"up", ...}       N Main Mode + Quick Mode negotiations, at most -concurrency at
//	                           once (and -rate started per second): how many came up, how
//	                           long it took, tunnels per second, per-tunnel latency
//	{"phase":"ping", ...}      one ICMPv6 echo through each tunnel (retried twice)
//	                           then it waits for a line "drop" on stdin
//	{"phase":"dropped", ...}   every connection terminated (Deletes sent)
//	                           then it waits for "exit" (or end of input)
//
// Usage:
//
//	loadgen -n 1000 -responder 198.18.0.2 -local 198.19.0.1 -psk-file F \
//	        -inner 2001:db8:a::1 -remote-ts 2001:db8:b::/48 -ping 2001:db8:b::1
//
// The outer addresses (-local, then the next N-1, skipping .0 and .255) must exist in the
// namespace; the PSK is read from a file so it appears in no argument list or log.
//
// Remote access (-ra, IKEv2): every peer is a road warrior of a gateway with pools. It asks
// for an IPv6 virtual IP in a CFG_REQUEST (RFC 7296 §3.15), with -eap-password-file logs in
// with EAP-MSCHAPv2 as user-N (N = its number, the gateway verified with -ca-file) instead
// of the PSK, and sends its echo from the address the gateway assigned. A peer's child
// proposes the remote selector ADDR/128 with ADDR the N+1-th address of -remote-ts (which
// the gateway must answer, e.g. by a local route for the network): every client's SPD entry
// here takes any source address (the virtual IP is unknown before the exchange), so the
// distinct remote selectors are what sends each echo through its own client's SA. The up
// phase adds "vips" (peer name → assigned address) and "address_refused" (peers refused
// with INTERNAL_ADDRESS_FAILURE).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike"
	"oakley/ike/core"
	"oakley/ike/pki"
)

type options struct {
	version     int // IKE major version
	n           int
	responder   netip.Addr
	local       netip.Addr
	inner       netip.Addr
	remoteTS    netip.Prefix
	pingDst     netip.Addr
	psk         crypto.Key
	remoteID    string
	ikeProps    []*crypto.Proposal
	espProps    []*crypto.Proposal
	concurrency int
	rate        float64
	timeout     time.Duration
	logLevel    string
	ra          bool       // remote access: a virtual IP by CFG_REQUEST
	eapPassword crypto.Key // remote access with EAP-MSCHAPv2 (user-N), else the PSK
	trust       *pki.Trust // what verifies the gateway's certificate (EAP)
}

func main() {
	if err := run(); err != nil {
		emit(map[string]any{"phase": "error", "error": err.Error()})
		os.Exit(1)
	}
}

func parseFlags() (*options, error) {
	var o options
	var responder, local, inner, remoteTS, pingDst, pskFile, ikeP, espP string
	flag.IntVar(&o.n, "n", 100, "peers")
	flag.IntVar(&o.version, "version", 1, "IKE version (1: Main Mode + Quick Mode, 2: IKE_SA_INIT + IKE_AUTH)")
	flag.StringVar(&responder, "responder", "", "the responder's address")
	flag.StringVar(&local, "local", "", "the first peer's outer address")
	flag.StringVar(&inner, "inner", "2001:db8:a::1", "the first peer's inner address")
	flag.StringVar(&remoteTS, "remote-ts", "2001:db8:b::/48", "the responder's inner network")
	flag.StringVar(&pingDst, "ping", "2001:db8:b::1", "the inner address to ping through each tunnel")
	flag.StringVar(&pskFile, "psk-file", "", "file holding the pre-shared key")
	flag.StringVar(&o.remoteID, "remote-id", "%any", "the responder's identity (FQDN or %any)")
	flag.StringVar(&ikeP, "ike", "aes128-sha256-ecp256", "IKE proposal")
	flag.StringVar(&espP, "esp", "aes128gcm16", "ESP proposal")
	flag.IntVar(&o.concurrency, "concurrency", 32, "negotiations in flight at most")
	flag.Float64Var(&o.rate, "rate", 0, "negotiations started per second at most (0 = no limit)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up the up phase after this long")
	flag.StringVar(&o.logLevel, "log", "warn", "engine log level (stderr)")
	var eapFile, caFile string
	flag.BoolVar(&o.ra, "ra", false, "remote access: each peer asks the gateway for an IPv6 virtual IP (IKEv2)")
	flag.StringVar(&eapFile, "eap-password-file", "", "remote access: log in with EAP-MSCHAPv2 as user-N with this file's password")
	flag.StringVar(&caFile, "ca-file", "", "EAP: the CA certificate that verifies the gateway")
	flag.Parse()
	var err error
	if o.responder, err = netip.ParseAddr(responder); err != nil {
		return nil, fmt.Errorf("loadgen: -responder: %w", err)
	}
	if o.local, err = netip.ParseAddr(local); err != nil {
		return nil, fmt.Errorf("loadgen: -local: %w", err)
	}
	if o.inner, err = netip.ParseAddr(inner); err != nil {
		return nil, fmt.Errorf("loadgen: -inner: %w", err)
	}
	if o.remoteTS, err = netip.ParsePrefix(remoteTS); err != nil {
		return nil, fmt.Errorf("loadgen: -remote-ts: %w", err)
	}
	if o.pingDst, err = netip.ParseAddr(pingDst); err != nil {
		return nil, fmt.Errorf("loadgen: -ping: %w", err)
	}
	if eapFile != "" {
		b, err := os.ReadFile(eapFile)
		if err != nil {
			return nil, fmt.Errorf("loadgen: -eap-password-file: %w", err)
		}
		o.eapPassword = crypto.Key(strings.TrimSpace(string(b)))
		if o.trust, err = pki.LoadTrust([]string{caFile}, "", nil); err != nil {
			return nil, fmt.Errorf("loadgen: -ca-file: %w", err)
		}
	} else {
		b, err := os.ReadFile(pskFile)
		if err != nil {
			return nil, fmt.Errorf("loadgen: -psk-file: %w", err)
		}
		o.psk = crypto.Key(strings.TrimSpace(string(b)))
	}
	if (o.ra || eapFile != "") && (o.version != 2 || !o.ra) {
		return nil, errors.New("loadgen: -ra is IKEv2 only, and -eap-password-file needs -ra")
	}
	proto := crypto.ProtoIKEv1
	switch o.version {
	case 1:
	case 2:
		proto = crypto.ProtoIKEv2
	default:
		return nil, fmt.Errorf("loadgen: -version %d: want 1 or 2", o.version)
	}
	p, err := crypto.ParseProposal(proto, ikeP, false)
	if err != nil {
		return nil, fmt.Errorf("loadgen: -ike: %w", err)
	}
	o.ikeProps = []*crypto.Proposal{p}
	if p, err = crypto.ParseProposal(crypto.ProtoESP, espP, false); err != nil {
		return nil, fmt.Errorf("loadgen: -esp: %w", err)
	}
	o.espProps = []*crypto.Proposal{p}
	if o.n <= 0 || o.concurrency <= 0 {
		return nil, errors.New("loadgen: -n and -concurrency must be positive")
	}
	return &o, nil
}

// outerAddrs returns n IPv4 addresses from first on, skipping .0 and .255.
func outerAddrs(first netip.Addr, n int) []netip.Addr {
	out := make([]netip.Addr, 0, n)
	for a := first; len(out) < n; a = a.Next() {
		if b := a.As4(); a.Is4() && (b[3] == 0 || b[3] == 255) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// innerAddrs returns n consecutive addresses from first on.
func innerAddrs(first netip.Addr, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i, a := 0, first; i < n; i, a = i+1, a.Next() {
		out[i] = a
	}
	return out
}

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	outer, inner := outerAddrs(o.local, o.n), innerAddrs(o.inner, o.n)
	pingDst := make([]netip.Addr, o.n)
	for i := range pingDst {
		pingDst[i] = o.pingDst
	}
	if o.ra {
		// Each client's echo goes to its own address of the gateway's network, and comes
		// from the virtual IP it is given (unknown until then).
		pingDst = innerAddrs(o.remoteTS.Masked().Addr().Next(), o.n)
		inner = make([]netip.Addr, o.n)
	}
	remoteID := ike.AnyIdentity
	if o.remoteID != "%any" {
		remoteID = ike.FQDNIdentity(o.remoteID)
	}
	conns := make([]*ike.Connection, o.n)
	for i := range conns {
		c := &ike.Connection{
			Name: fmt.Sprintf("peer-%d", i), Version: uint8(o.version),
			LocalAddr: outer[i], RemoteAddr: o.responder,
			LocalID: ike.FQDNIdentity(fmt.Sprintf("peer-%d.load.example", i)), RemoteID: remoteID,
			Auth: "psk", PSK: o.psk, Proposals: o.ikeProps, StartAction: "none",
			Children: []*ike.Child{{Name: "net", ESPProposals: o.espProps}},
		}
		if o.ra {
			// local_ts ::/0, which the gateway narrows to the virtual IP (config's default).
			c.VIPs = []netip.Addr{netip.IPv6Unspecified()}
			c.Children[0].LocalTS = []esp.Selector{{Prefix: netip.MustParsePrefix("::/0"), PortHi: 0xffff}}
			c.Children[0].RemoteTS = []esp.Selector{{Prefix: netip.PrefixFrom(pingDst[i], 128), PortHi: 0xffff}}
			if len(o.eapPassword) > 0 {
				c.Auth, c.PSK, c.EAP, c.EAPID, c.EAPPassword = "pubkey", nil, "mschapv2", fmt.Sprintf("user-%d", i), o.eapPassword
				c.Trust = o.trust
			}
		} else {
			c.Children[0].LocalTS = []esp.Selector{{Prefix: netip.PrefixFrom(inner[i], inner[i].BitLen()), PortHi: 0xffff}}
			c.Children[0].RemoteTS = []esp.Selector{{Prefix: o.remoteTS, PortHi: 0xffff}}
		}
		conns[i] = c
	}
	// byInner finds a peer by its inner address: fixed, or (remote access) its virtual IP.
	var vipMu sync.Mutex
	byInner := make(map[netip.Addr]int, o.n)
	byName := make(map[string]int, o.n)
	for i, c := range conns {
		byName[c.Name] = i
		if !o.ra {
			byInner[inner[i]] = i
		}
	}
	onVIPs := func(v core.VirtualIPs) {
		i, ok := byName[v.Conn]
		if !ok || len(v.Addrs) == 0 {
			return
		}
		vipMu.Lock()
		defer vipMu.Unlock()
		if a := inner[i]; a.IsValid() && byInner[a] == i {
			delete(byInner, a)
		}
		inner[i] = netip.Addr{}
		if v.Up {
			inner[i] = v.Addrs[0]
			byInner[inner[i]] = i
		}
	}
	lvl, err := zap.ParseAtomicLevel(o.logLevel)
	if err != nil {
		return fmt.Errorf("loadgen: -log: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level, zc.OutputPaths, zc.Encoding = lvl, []string{"stderr"}, "console"
	log, err := zc.Build()
	if err != nil {
		return err
	}
	dev := newMemDevice(func(src netip.Addr) (int, bool) {
		vipMu.Lock()
		defer vipMu.Unlock()
		i, ok := byInner[src]
		return i, ok
	})
	var eng *ike.Engine
	dp, err := esp.New(esp.Options{
		Device: dev, NATT: esp.NewUDPBind(false, 16<<20), IKE: esp.NewUDPBind(false, 16<<20),
		NATTPort: core.DefaultNATTPort, IKEPort: core.DefaultIKEPort, Log: log.Named("esp"),
		OnIKE: func(msg []byte, from, local netip.AddrPort) { eng.HandleMessage(msg, from, local) },
	})
	if err != nil {
		return err
	}
	cfg := ike.Config{}
	cfg.Connections, cfg.Dataplane, cfg.Log = conns, dp, log.Named("ike")
	cfg.IKEPort, cfg.NATTPort = core.DefaultIKEPort, core.DefaultNATTPort
	cfg.OnVirtualIPs = onVIPs
	if eng, err = ike.New(cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	engDone := make(chan struct{})
	go func() { eng.Run(ctx); close(engDone) }()
	dp.Start()
	defer func() {
		cancel()
		<-engDone
		dp.Quiesce()
		dp.Close()
		dev.Close()
		dp.Wait()
	}()

	up(o, eng, conns, func() []netip.Addr {
		vipMu.Lock()
		defer vipMu.Unlock()
		return slices.Clone(inner)
	})
	vipMu.Lock()
	srcs := slices.Clone(inner)
	vipMu.Unlock()
	pingAll(dev, srcs, pingDst)
	stdin := bufio.NewScanner(os.Stdin)
	for stdin.Scan() && strings.TrimSpace(stdin.Text()) != "drop" {
	}
	t0 := time.Now()
	var failed int
	for _, c := range conns {
		if err := eng.Terminate(c.Name); err != nil {
			failed++
		}
	}
	emit(map[string]any{"phase": "dropped", "n": o.n, "failed": failed, "secs": time.Since(t0).Seconds()})
	for stdin.Scan() && strings.TrimSpace(stdin.Text()) != "exit" {
	}
	return nil
}

// up negotiates every connection, at most o.concurrency at once and o.rate per second.
// With -ra, vips gives each peer's virtual IP (invalid: none) for the report.
func up(o *options, eng *ike.Engine, conns []*ike.Connection, vips func() []netip.Addr) {
	lat := make([]time.Duration, len(conns))
	errs := make([]error, len(conns))
	next := atomic.Int64{}
	var pace <-chan time.Time
	if o.rate > 0 {
		tk := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer tk.Stop()
		pace = tk.C
	}
	var mu sync.Mutex
	deadline := time.Now().Add(o.timeout)
	t0 := time.Now()
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) || time.Now().After(deadline) {
					return
				}
				if pace != nil {
					mu.Lock()
					<-pace
					mu.Unlock()
				}
				s := time.Now()
				errs[i] = eng.Initiate(conns[i].Name, "")
				lat[i] = time.Since(s)
			}
		}()
	}
	wg.Wait()
	total := time.Since(t0)
	var ok []float64
	var failures []string
	refused := 0
	for i := range conns {
		if errs[i] == nil && lat[i] > 0 {
			ok = append(ok, lat[i].Seconds()*1000)
			continue
		}
		if errs[i] != nil && strings.Contains(errs[i].Error(), "INTERNAL_ADDRESS_FAILURE") {
			refused++
		}
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf("%s: %v", conns[i].Name, errs[i]))
		}
	}
	sort.Float64s(ok)
	q := func(p float64) float64 {
		if len(ok) == 0 {
			return 0
		}
		return ok[min(len(ok)-1, int(p*float64(len(ok))))]
	}
	c := eng.Counters()
	ph := map[string]any{"phase": "up", "n": len(conns), "ok": len(ok), "failed": len(conns) - len(ok),
		"secs": total.Seconds(), "per_sec": float64(len(ok)) / total.Seconds(),
		"median_ms": q(0.5), "p90_ms": q(0.9), "max_ms": q(1), "retransmits": c[core.CtrRetransmits],
		"failures": failures}
	if o.ra {
		m := map[string]string{}
		for i, a := range vips() {
			if a.IsValid() {
				m[conns[i].Name] = a.String()
			}
		}
		ph["vips"], ph["address_refused"] = m, refused
	}
	emit(ph)
}

// pingAll sends one echo request through each tunnel from src[i] to dst[i] and waits for
// the replies (twice more for those missing). Peers without a source address (remote
// access: no virtual IP) send none and are not counted.
func pingAll(dev *memDevice, src, dst []netip.Addr) {
	t0 := time.Now()
	var want []int
	for i, a := range src {
		if a.IsValid() {
			want = append(want, i)
		}
	}
	for round := range 3 {
		missing := dev.missing(want)
		if len(missing) == 0 {
			break
		}
		for _, i := range missing {
			dev.inject(echoRequest(src[i], dst[i], uint16(i), uint16(round+1)))
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && len(dev.missing(want)) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	missing := dev.missing(want)
	var names []string
	for _, i := range missing[:min(len(missing), 10)] {
		names = append(names, fmt.Sprintf("peer-%d", i))
	}
	emit(map[string]any{"phase": "ping", "n": len(want), "ok": len(want) - len(missing), "secs": time.Since(t0).Seconds(),
		"missing": names, "stray": dev.stray.Load()})
}

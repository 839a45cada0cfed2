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
	b, err := os.ReadFile(pskFile)
	if err != nil {
		return nil, fmt.Errorf("loadgen: -psk-file: %w", err)
	}
	o.psk = crypto.Key(strings.TrimSpace(string(b)))
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
	byInner := make(map[netip.Addr]int, o.n)
	remoteID := ike.AnyIdentity
	if o.remoteID != "%any" {
		remoteID = ike.FQDNIdentity(o.remoteID)
	}
	conns := make([]*ike.Connection, o.n)
	for i := range conns {
		byInner[inner[i]] = i
		host := netip.PrefixFrom(inner[i], inner[i].BitLen())
		conns[i] = &ike.Connection{
			Name: fmt.Sprintf("peer-%d", i), Version: uint8(o.version),
			LocalAddr: outer[i], RemoteAddr: o.responder,
			LocalID: ike.FQDNIdentity(fmt.Sprintf("peer-%d.load.example", i)), RemoteID: remoteID,
			Auth: "psk", PSK: o.psk, Proposals: o.ikeProps, StartAction: "none",
			Children: []*ike.Child{{
				Name:         "net",
				LocalTS:      []esp.Selector{{Prefix: host, PortHi: 0xffff}},
				RemoteTS:     []esp.Selector{{Prefix: o.remoteTS, PortHi: 0xffff}},
				ESPProposals: o.espProps,
			}},
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
	dev := newMemDevice(func(src netip.Addr) (int, bool) { i, ok := byInner[src]; return i, ok })
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

	up(o, eng, conns)
	pingAll(o, dev, inner)
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
func up(o *options, eng *ike.Engine, conns []*ike.Connection) {
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
	for i := range conns {
		if errs[i] == nil && lat[i] > 0 {
			ok = append(ok, lat[i].Seconds()*1000)
		} else if len(failures) < 10 {
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
	emit(map[string]any{"phase": "up", "n": len(conns), "ok": len(ok), "failed": len(conns) - len(ok),
		"secs": total.Seconds(), "per_sec": float64(len(ok)) / total.Seconds(),
		"median_ms": q(0.5), "p90_ms": q(0.9), "max_ms": q(1), "retransmits": c[core.CtrRetransmits],
		"failures": failures})
}

// pingAll sends one echo request through each tunnel and waits for the replies (twice more
// for those missing).
func pingAll(o *options, dev *memDevice, inner []netip.Addr) {
	t0 := time.Now()
	for round := range 3 {
		missing := dev.missing(len(inner))
		if len(missing) == 0 {
			break
		}
		for _, i := range missing {
			dev.inject(echoRequest(inner[i], o.pingDst, uint16(i), uint16(round+1)))
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && len(dev.missing(len(inner))) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	missing := dev.missing(len(inner))
	var names []string
	for _, i := range missing[:min(len(missing), 10)] {
		names = append(names, fmt.Sprintf("peer-%d", i))
	}
	emit(map[string]any{"phase": "ping", "n": len(inner), "ok": len(inner) - len(missing), "secs": time.Since(t0).Seconds(),
		"missing": names, "stray": dev.stray.Load()})
}

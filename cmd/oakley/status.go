package main

// What `oakley status` shows: connections, IKE SAs, child SAs with algorithms, lifetimes and
// counters, and the data plane's counters. Never a key.

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"oakley/esp"
	"oakley/ike"
)

// statusSchema is the version of the `oakley status --json` schema (docs/status.md). It
// changes only when a field is removed or changes meaning; added fields keep it.
const statusSchema = 1

type statusReport struct {
	Schema      int               `json:"schema"`
	Version     string            `json:"version"`
	Started     string            `json:"started"`
	Uptime      string            `json:"uptime"`
	Device      deviceStatus      `json:"device"`
	Connections []connStatus      `json:"connections"`
	Counters    map[string]uint64 `json:"counters"`
	IKECounters map[string]uint64 `json:"ike_counters,omitempty"`
	Runtime     runtimeStatus     `json:"runtime"`
}

// runtimeStatus exposes the Go runtime's allocation counters, so allocations per packet under
// load can be read off two status calls (the data plane should add none).
type runtimeStatus struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`
	Mallocs    uint64 `json:"mallocs"`
	GCCycles   uint32 `json:"gc_cycles"`
}

func readRuntime() runtimeStatus {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtimeStatus{Goroutines: runtime.NumGoroutine(), HeapBytes: m.HeapAlloc, Mallocs: m.Mallocs, GCCycles: m.NumGC}
}

type deviceStatus struct {
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	MTU       int      `json:"mtu"`
	Addresses []string `json:"addresses"`
	Offload   bool     `json:"offload"`
}

type connStatus struct {
	Name        string        `json:"name"`
	Keying      string        `json:"keying"`
	Version     int           `json:"version,omitempty"`
	Local       string        `json:"local"`
	Remote      string        `json:"remote"`
	LocalID     string        `json:"local_id,omitempty"`
	RemoteID    string        `json:"remote_id,omitempty"`
	State       string        `json:"state"`
	LastError   string        `json:"last_error,omitempty"`
	LastErrorAt string        `json:"last_error_at,omitempty"`
	NextAttempt string        `json:"next_attempt,omitempty"`
	IKESAs      []ikeSAStatus `json:"ike_sas,omitempty"`
	Children    []childStatus `json:"children"`
	// Clients: a remote-access gateway's (pools) connected clients, one per established
	// IKE SA holding a lease.
	Clients []clientStatus `json:"clients,omitempty"`
}

// clientStatus is one connected client of a remote-access gateway.
type clientStatus struct {
	Identity   string   `json:"identity"`
	User       string   `json:"user,omitempty"`
	RemoteID   string   `json:"remote_id"`
	Peer       string   `json:"peer"`
	VirtualIPs []string `json:"virtual_ips"`
	Since      string   `json:"since"`
	BytesIn    uint64   `json:"bytes_in"`
	BytesOut   uint64   `json:"bytes_out"`
	PacketsIn  uint64   `json:"packets_in"`
	PacketsOut uint64   `json:"packets_out"`
}

type ikeSAStatus struct {
	Initiator   bool   `json:"initiator"`
	Cookies     string `json:"cookies"`
	State       string `json:"state"`
	Peer        string `json:"peer"`
	Mode        string `json:"mode"`
	Algorithms  string `json:"algorithms"`
	Auth        string `json:"auth"`
	NAT         string `json:"nat,omitempty"`
	Established string `json:"established,omitempty"`
	Expires     string `json:"expires,omitempty"`
	DPD         string `json:"dpd,omitempty"`
	// PeerCert is the certificate the peer authenticated with (auth = "pubkey" / "pke").
	PeerCert *peerCertStatus `json:"peer_cert,omitempty"`
	// VirtualIPs: what the gateway assigned us (vips), or leased to the peer (pools).
	VirtualIPs []string `json:"virtual_ips,omitempty"`
}

// peerCertStatus names a peer's certificate: subject, issuer, SHA-256 fingerprint of the DER.
type peerCertStatus struct {
	Subject     string `json:"subject"`
	Issuer      string `json:"issuer"`
	Fingerprint string `json:"sha256"`
}

type childStatus struct {
	Name      string     `json:"name"`
	Mode      string     `json:"mode"`
	State     string     `json:"state"`
	LocalTS   []string   `json:"local_ts"`
	RemoteTS  []string   `json:"remote_ts"`
	PFS       string     `json:"pfs,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	SAs       []saStatus `json:"sas"`
	NoSA      uint64     `json:"dropped_no_sa,omitempty"`
	TooBig    uint64     `json:"too_big,omitempty"`
}

type saStatus struct {
	Dir          string            `json:"dir"`
	SPI          string            `json:"spi"`
	Protocol     string            `json:"protocol"`
	Algorithms   string            `json:"algorithms"`
	Encap        string            `json:"encap,omitempty"`
	Peer         string            `json:"peer,omitempty"`
	ESN          bool              `json:"esn"`
	Packets      uint64            `json:"packets"`
	Bytes        uint64            `json:"bytes"`
	Errors       map[string]uint64 `json:"errors,omitempty"`
	Seq          uint64            `json:"seq"`
	ReplayWindow int               `json:"replay_window,omitempty"`
	Age          string            `json:"age"`
	Expires      string            `json:"expires,omitempty"`
	LifeBytes    uint64            `json:"life_bytes,omitempty"`
	LifePackets  uint64            `json:"life_packets,omitempty"`
	Rekeying     bool              `json:"rekeying,omitempty"`
	Expired      bool              `json:"expired,omitempty"`
	Unconfirmed  bool              `json:"unconfirmed,omitempty"`
}

func saReport(sa *esp.SA, b *esp.Binding, expires time.Time) saStatus {
	c := sa.Config()
	snap := sa.Stats.Snapshot()
	s := saStatus{
		Dir: c.Dir.String(), SPI: fmt.Sprintf("0x%08x", c.SPI), Protocol: c.Proto.String(),
		Algorithms: sa.Algorithms(), ESN: c.ESN, Packets: snap.Packets, Bytes: snap.Bytes,
		Errors: snap.Errors, Seq: sa.Seq(), Age: time.Since(sa.Created()).Round(time.Second).String(),
		LifeBytes: c.Life.HardBytes, LifePackets: c.Life.HardPackets, Rekeying: sa.Soft(), Expired: sa.Expired(),
	}
	if c.Dir == esp.Inbound {
		s.ReplayWindow = c.Replay
	}
	if b != nil {
		s.Encap, s.Peer = b.Encap.String(), b.Peer.String()
	}
	if !expires.IsZero() {
		s.Expires = time.Until(expires).Round(time.Second).String()
	}
	return s
}

func (d *daemon) status() *statusReport {
	d.mu.RLock() // a reload changes the engine's connections and policies under the write lock
	defer d.mu.RUnlock()
	cfg, children := d.cfg, d.children
	r := &statusReport{Schema: statusSchema, Version: version, Started: d.started.UTC().Format(time.RFC3339),
		Uptime: time.Since(d.started).Round(time.Second).String()}
	r.Device = deviceStatus{Kind: cfg.Device.Kind, Name: d.deviceName(), MTU: d.devMTU, Addresses: []string{}}
	for _, p := range cfg.Device.Addresses {
		r.Device.Addresses = append(r.Device.Addresses, p.String())
	}
	if d.tun != nil {
		r.Device.Offload = d.tun.Offload()
	}
	var engine []ike.ConnStatus
	for _, c := range cfg.Connections {
		cs := connStatus{Name: c.Name, Keying: c.Keying, Local: orAny(c.LocalAddr), Remote: orAny(c.RemoteAddr),
			LocalID: c.LocalID.String(), RemoteID: c.RemoteID.String(), Children: []childStatus{}}
		if c.Keying == "ike" {
			cs.Version = c.Version
		}
		for _, cc := range c.Children {
			if c.Keying != "manual" {
				break
			}
			st := childStatus{Name: cc.Name, Mode: cc.Mode, State: "down", LocalTS: []string{}, RemoteTS: []string{}, SAs: []saStatus{}}
			for _, ts := range cc.LocalTS {
				st.LocalTS = append(st.LocalTS, ts.String())
			}
			for _, ts := range cc.RemoteTS {
				st.RemoteTS = append(st.RemoteTS, ts.String())
			}
			i := slices.IndexFunc(children, func(r *childRuntime) bool { return r.child == cc })
			if i < 0 {
				st.LastError = d.manualErrors[c.Name+"/"+cc.Name]
				cs.Children = append(cs.Children, st)
				continue
			}
			ch := children[i]
			st.NoSA, st.TooBig = ch.policy.NoSA.Load(), ch.policy.TooBig.Load()
			if ch.in != nil {
				st.State = "installed"
				st.SAs = append(st.SAs, saReport(ch.in, nil, time.Time{}), saReport(ch.out, ch.policy.Binding(), time.Time{}))
			}
			cs.Children = append(cs.Children, st)
		}
		cs.State = "manual"
		if c.Keying == "ike" {
			cs.State = "down"
		}
		if d.ike != nil && c.Keying == "ike" {
			if engine == nil {
				engine = d.ike.engine.Status()
			}
			d.ike.fillStatus(&cs, engine, d.policiesLocked(children), len(c.Pools) > 0)
		}
		r.Connections = append(r.Connections, cs)
	}
	r.Counters = d.counters()
	r.Runtime = readRuntime()
	if d.ike != nil {
		r.IKECounters = d.ike.counters()
	}
	return r
}

func orAny(s string) string {
	if s == "" {
		return "%any"
	}
	return s
}

// counters lists the data plane's counters by name.
func (d *daemon) counters() map[string]uint64 {
	s := &d.dp.Stat
	m := map[string]uint64{
		"device_rx_packets": s.DevRx.Load(), "device_tx_packets": s.DevTx.Load(),
		"net_rx_packets": s.NetRx.Load(), "net_tx_packets": s.NetTx.Load(),
		"net_rx_bytes": s.NetRxBytes.Load(), "net_tx_bytes": s.NetTxBytes.Load(),
		"ike_rx": s.IKERx.Load(), "nat_keepalives_rx": s.Keepalives.Load(),
		"dropped_no_policy": s.NoPolicy.Load(), "dropped_no_sa": s.NoSA.Load(),
		"dropped_discard": s.Discarded.Load(), "icmp_too_big_sent": s.TooBig.Load(),
		"mss_clamped": s.MSSClamped.Load(), "malformed": s.Malformed.Load(),
		"unknown_spi": s.UnknownSPI.Load(), "send_errors": s.SendErrors.Load(),
		"device_write_errors": s.DevWriteErrors.Load(), "device_read_errors": s.DevReadErrors.Load(),
		"too_many_segments": s.TooManySegments.Load(), "parallel_batches": s.ParallelBatches.Load(),
		"oversized":   s.Oversized.Load(),
		"batches_out": s.BatchesOut.Load(), "batches_in": s.BatchesIn.Load(),
	}
	if d.vips != nil {
		m["virtual_ip_errors"] = d.vips.errorCount()
	}
	if d.ns != nil {
		c := d.ns.DNSCounters()
		m["dns_lookups"], m["dns_not_found"], m["dns_failures"] = c.Lookups, c.NotFound, c.Failures
	}
	return m
}

func writeStatus(w io.Writer, r *statusReport) {
	off := ""
	if r.Device.Offload {
		off = ", offload"
	}
	fmt.Fprintf(w, "oakley %s, up %s, device %s (%s, mtu %d%s) %s\n", r.Version, r.Uptime, r.Device.Name,
		r.Device.Kind, r.Device.MTU, off, strings.Join(r.Device.Addresses, " "))
	var down []string
	children, childrenUp := 0, 0
	for _, c := range r.Connections {
		if !connUp(c) {
			down = append(down, c.Name)
		}
		for _, ch := range c.Children {
			children++
			if childUp(ch) {
				childrenUp++
			} else {
				down = append(down, c.Name+"/"+ch.Name)
			}
		}
	}
	fmt.Fprintf(w, "%d connection(s), %d child(ren), %d child(ren) up", len(r.Connections), children, childrenUp)
	if len(down) > 0 {
		fmt.Fprintf(w, "; down: %s", strings.Join(down, ", "))
	}
	fmt.Fprintln(w)
	for _, c := range r.Connections {
		kind := c.Keying
		if c.Keying == "ike" {
			kind = fmt.Sprintf("IKEv%d", c.Version)
		}
		fmt.Fprintf(w, "\n%s: %s %s[%s] ... %s[%s], %s\n", c.Name, kind, c.Local, c.LocalID, c.Remote, c.RemoteID, strings.ToUpper(c.State))
		if c.LastError != "" {
			fmt.Fprintf(w, "  last error: %s", c.LastError)
			if at, err := time.Parse(time.RFC3339, c.LastErrorAt); err == nil {
				fmt.Fprintf(w, " (%s ago)", time.Since(at).Round(time.Second))
			}
			fmt.Fprintln(w)
		}
		if c.NextAttempt != "" {
			fmt.Fprintf(w, "  next attempt in %s\n", c.NextAttempt)
		}
		for _, s := range c.IKESAs {
			role := "responder"
			if s.Initiator {
				role = "initiator"
			}
			fmt.Fprintf(w, "  IKE SA %s %s (%s) %s peer %s, %s, %s auth", s.Cookies, s.State, role, s.Mode, s.Peer, s.Algorithms, s.Auth)
			if s.NAT != "" {
				fmt.Fprintf(w, ", NAT: %s", s.NAT)
			}
			if s.Established != "" {
				fmt.Fprintf(w, ", established %s ago", s.Established)
			}
			if s.Expires != "" {
				fmt.Fprintf(w, ", rekey in %s", s.Expires)
			}
			if len(s.VirtualIPs) > 0 {
				fmt.Fprintf(w, ", virtual IPs %s", strings.Join(s.VirtualIPs, " "))
			}
			fmt.Fprintln(w)
			if pc := s.PeerCert; pc != nil {
				fmt.Fprintf(w, "    peer certificate %q, issuer %q\n    sha256 %s\n", pc.Subject, pc.Issuer, pc.Fingerprint)
			}
		}
		if len(c.Clients) > 0 {
			fmt.Fprintf(w, "  %d client(s):\n", len(c.Clients))
		}
		for _, cl := range c.Clients {
			since := cl.Since
			if at, err := time.Parse(time.RFC3339, cl.Since); err == nil {
				since = fmt.Sprintf("%s (%s ago)", cl.Since, time.Since(at).Round(time.Second))
			}
			fmt.Fprintf(w, "    %s  %s  from %s, since %s, in %s, out %s\n", cl.Identity, strings.Join(cl.VirtualIPs, " "), cl.Peer, since,
				humanBytes(cl.BytesIn), humanBytes(cl.BytesOut))
		}
		for _, ch := range c.Children {
			pfs := ""
			if ch.PFS != "" {
				pfs = ", PFS " + ch.PFS
			}
			fmt.Fprintf(w, "  %s (%s%s): %s === %s, %s\n", ch.Name, ch.Mode, pfs, strings.Join(ch.LocalTS, ","), strings.Join(ch.RemoteTS, ","), strings.ToUpper(ch.State))
			if ch.LastError != "" {
				fmt.Fprintf(w, "    last error: %s\n", ch.LastError)
			}
			for _, sa := range ch.SAs {
				extra := ""
				if sa.Encap != "" {
					extra = fmt.Sprintf(" %s to %s", sa.Encap, sa.Peer)
				}
				if sa.ESN {
					extra += " esn"
				}
				fmt.Fprintf(w, "    %-3s %s spi %s %s%s, %d pkts, %s, seq %d, age %s", sa.Dir, sa.Protocol, sa.SPI, sa.Algorithms, extra, sa.Packets, humanBytes(sa.Bytes), sa.Seq, sa.Age)
				if sa.Expires != "" {
					fmt.Fprintf(w, ", rekey in %s", sa.Expires)
				}
				if sa.Unconfirmed {
					fmt.Fprint(w, ", unconfirmed (waiting for the peer's first packet)")
				}
				if len(sa.Errors) > 0 {
					fmt.Fprintf(w, ", errors: %s", formatCounts(sa.Errors))
				}
				fmt.Fprintln(w)
			}
			if ch.NoSA > 0 || ch.TooBig > 0 {
				fmt.Fprintf(w, "    dropped without SA %d, too big %d\n", ch.NoSA, ch.TooBig)
			}
		}
	}
	fmt.Fprintf(w, "\ncounters: %s\n", formatCounts(r.Counters))
	if len(r.IKECounters) > 0 {
		fmt.Fprintf(w, "ike: %s\n", formatCounts(r.IKECounters))
	}
}

func formatCounts(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func humanBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// connUp says whether a connection is up: an established IKE SA, or (manual keying) an
// installed SA pair for every child.
func connUp(c connStatus) bool {
	if c.Keying != "manual" {
		return c.State == "established"
	}
	for _, ch := range c.Children {
		if !childUp(ch) {
			return false
		}
	}
	return len(c.Children) > 0
}

// childUp says whether a child (or IKEv1 selector-pair unit) has an installed SA pair.
func childUp(ch childStatus) bool { return ch.State == "installed" && len(ch.SAs) >= 2 }

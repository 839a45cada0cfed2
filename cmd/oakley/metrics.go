package main

// Prometheus text exposition (format 0.0.4) on /metrics, written by hand: a few dozen series
// need no client library. Names follow Prometheus's conventions: an oakley_ prefix, base
// units in the name (_bytes, _seconds), counters ending in _total, one family per meaning
// with labels for its dimensions (connection, child, direction, reason), and HELP and TYPE
// once per family before its samples. The Go runtime's figures use the names Prometheus's
// own Go client gives them.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

type metricsServer struct{ srv *http.Server }

func startMetrics(addr string, d *daemon) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(w, d.metricsInput())
	})
	s := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go s.srv.Serve(ln) //nolint:errcheck
	return s, nil
}

func (m *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.srv.Shutdown(ctx) //nolint:errcheck
}

// metricsInput is what /metrics shows: the status and the daemon's own figures.
type metricsInput struct {
	status        *statusReport
	started       time.Time
	reloadsOK     uint64
	reloadsFailed uint64
	lastReloadOK  int64 // Unix seconds; 0 = never
	lastFailed    bool
}

func (d *daemon) metricsInput() metricsInput {
	return metricsInput{status: d.status(), started: d.started, reloadsOK: d.reloads.ok.Load(),
		reloadsFailed: d.reloads.failed.Load(), lastReloadOK: d.reloads.lastOK.Load(), lastFailed: d.reloads.lastFailed.Load()}
}

// promFamily is one metric family: its samples are written together after HELP and TYPE.
type promFamily struct {
	name, typ, help string
	samples         []string
}

// promWriter collects samples by family, in the order families were first used.
type promWriter struct {
	order []*promFamily
	byKey map[string]*promFamily
}

// add records one sample; labels are name, value pairs.
func (p *promWriter) add(name, typ, help string, value float64, labels ...string) {
	if p.byKey == nil {
		p.byKey = map[string]*promFamily{}
	}
	f := p.byKey[name]
	if f == nil {
		f = &promFamily{name: name, typ: typ, help: help}
		p.byKey[name] = f
		p.order = append(p.order, f)
	}
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `%s="%s"`, labels[i], promLabel(labels[i+1]))
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatFloat(value, 'f', -1, 64))
	f.samples = append(f.samples, b.String())
}

// family declares a family without adding a sample (so that HELP and TYPE are there even
// when, say, no SA exists yet).
func (p *promWriter) family(name, typ, help string) {
	if p.byKey == nil {
		p.byKey = map[string]*promFamily{}
	}
	if p.byKey[name] == nil {
		f := &promFamily{name: name, typ: typ, help: help}
		p.byKey[name] = f
		p.order = append(p.order, f)
	}
}

func (p *promWriter) write(w io.Writer) {
	for _, f := range p.order {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, s := range f.samples {
			fmt.Fprintln(w, s)
		}
	}
}

// promLabel escapes a label value (backslash, double quote, newline).
func promLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// dataplaneFamilies are the families of the data plane's counters, in exposition order.
var dataplaneFamilies = []struct{ name, help string }{
	{"oakley_device_received_packets_total", "Packets read from the tunnel device."},
	{"oakley_device_sent_packets_total", "Packets written to the tunnel device."},
	{"oakley_network_received_packets_total", "ESP/AH packets received from the network."},
	{"oakley_network_sent_packets_total", "ESP/AH packets sent to the network."},
	{"oakley_network_received_bytes_total", "Bytes of ESP/AH packets received from the network."},
	{"oakley_network_sent_bytes_total", "Bytes of ESP/AH packets sent to the network."},
	{"oakley_ike_received_packets_total", "IKE datagrams handed to the IKE engine."},
	{"oakley_nat_keepalives_received_total", "NAT-T keepalives received (RFC 3948)."},
	{"oakley_dropped_packets_total", "Packets dropped by the data plane, by reason."},
	{"oakley_icmp_too_big_sent_total", "ICMP packet-too-big errors sent for packets larger than the tunnel MTU."},
	{"oakley_mss_clamped_packets_total", "TCP SYNs whose MSS was lowered to fit the tunnel."},
	{"oakley_io_errors_total", "Failed reads and writes, by operation."},
	{"oakley_batches_total", "Batches of packets processed, by direction."},
	{"oakley_parallel_batches_total", "Batches sealed or opened on several cores."},
	{"oakley_dataplane_events_total", "Other data-plane counters, by name."},
}

// dataplaneMetric maps a data-plane counter of `oakley status` to its family and label.
type dataplaneMetric struct{ name, label, val string }

var dataplaneMetrics = map[string]dataplaneMetric{
	"device_rx_packets":   {"oakley_device_received_packets_total", "", ""},
	"device_tx_packets":   {"oakley_device_sent_packets_total", "", ""},
	"net_rx_packets":      {"oakley_network_received_packets_total", "", ""},
	"net_tx_packets":      {"oakley_network_sent_packets_total", "", ""},
	"net_rx_bytes":        {"oakley_network_received_bytes_total", "", ""},
	"net_tx_bytes":        {"oakley_network_sent_bytes_total", "", ""},
	"ike_rx":              {"oakley_ike_received_packets_total", "", ""},
	"nat_keepalives_rx":   {"oakley_nat_keepalives_received_total", "", ""},
	"dropped_no_policy":   {"oakley_dropped_packets_total", "reason", "no_policy"},
	"dropped_no_sa":       {"oakley_dropped_packets_total", "reason", "no_sa"},
	"dropped_discard":     {"oakley_dropped_packets_total", "reason", "discard_policy"},
	"malformed":           {"oakley_dropped_packets_total", "reason", "malformed"},
	"unknown_spi":         {"oakley_dropped_packets_total", "reason", "unknown_spi"},
	"too_many_segments":   {"oakley_dropped_packets_total", "reason", "too_many_segments"},
	"oversized":           {"oakley_dropped_packets_total", "reason", "oversized"},
	"icmp_too_big_sent":   {"oakley_icmp_too_big_sent_total", "", ""},
	"mss_clamped":         {"oakley_mss_clamped_packets_total", "", ""},
	"send_errors":         {"oakley_io_errors_total", "op", "network_send"},
	"device_write_errors": {"oakley_io_errors_total", "op", "device_write"},
	"device_read_errors":  {"oakley_io_errors_total", "op", "device_read"},
	"batches_in":          {"oakley_batches_total", "direction", "in"},
	"batches_out":         {"oakley_batches_total", "direction", "out"},
	"parallel_batches":    {"oakley_parallel_batches_total", "", ""},
}

func sortedKeys(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeMetrics writes the exposition of in.
func writeMetrics(w io.Writer, in metricsInput) {
	r := in.status
	var p promWriter
	p.add("oakley_build_info", "gauge", "Always 1; the version label says which oakley runs.", 1, "version", r.Version)
	p.add("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.", float64(in.started.Unix()))
	p.add("oakley_device_mtu_bytes", "gauge", "MTU of the tunnel device.", float64(r.Device.MTU), "device", r.Device.Name)

	p.add("oakley_reloads_total", "counter", "Configuration reloads (oakley reload, SIGHUP), by result.", float64(in.reloadsOK), "result", "success")
	p.add("oakley_reloads_total", "counter", "", float64(in.reloadsFailed), "result", "failure")
	last := 1.0
	if in.lastFailed {
		last = 0
	}
	p.add("oakley_config_last_reload_successful", "gauge", "Whether the last reload succeeded (1 before any reload).", last)
	p.add("oakley_config_last_reload_success_timestamp_seconds", "gauge", "Time of the last successful reload (or of the start) since the Unix epoch in seconds.",
		float64(max(in.lastReloadOK, in.started.Unix())))

	for _, f := range dataplaneFamilies {
		p.family(f.name, "counter", f.help)
	}
	for _, k := range sortedKeys(r.Counters) {
		m, ok := dataplaneMetrics[k]
		switch {
		case !ok:
			p.add("oakley_dataplane_events_total", "counter", "", float64(r.Counters[k]), "counter", k)
		case m.label == "":
			p.add(m.name, "counter", "", float64(r.Counters[k]))
		default:
			p.add(m.name, "counter", "", float64(r.Counters[k]), m.label, m.val)
		}
	}
	p.family("oakley_ike_events_total", "counter", "IKE engine counters (exchanges, SAs, errors), by event.")
	for _, k := range sortedKeys(r.IKECounters) {
		p.add("oakley_ike_events_total", "counter", "IKE engine counters (exchanges, SAs, errors), by event.", float64(r.IKECounters[k]), "event", k)
	}

	p.family("oakley_connection_up", "gauge", "Whether a configured connection is up: an established IKE SA, or (manual keying) SAs for every child.")
	p.family("oakley_child_up", "gauge", "Whether a configured child (an IKEv1 selector pair: NAME.N) has an installed SA pair; 0 when it is down.")
	p.family("oakley_sa_packets_total", "counter", "Packets through an IPsec SA.")
	p.family("oakley_sa_bytes_total", "counter", "Inner bytes through an IPsec SA.")
	p.family("oakley_sa_errors_total", "counter", "Packets an IPsec SA refused, by reason.")
	for _, c := range r.Connections {
		p.add("oakley_connection_up", "gauge", "", b2f(connUp(c)), "connection", c.Name, "keying", c.Keying)
		if c.Keying != "manual" {
			p.add("oakley_connection_ike_sas", "gauge", "IKE SAs of a connection, in any state.", float64(len(c.IKESAs)), "connection", c.Name)
			p.add("oakley_connection_clients", "gauge", "Remote-access clients of a gateway connection (pools): established IKE SAs holding a virtual IP.", float64(len(c.Clients)), "connection", c.Name)
		}
		for _, ch := range c.Children {
			p.add("oakley_child_up", "gauge", "", b2f(childUp(ch)), "connection", c.Name, "child", ch.Name)
			p.add("oakley_child_dropped_no_sa_packets_total", "counter", "Packets of a child dropped because it had no outbound SA.", float64(ch.NoSA), "connection", c.Name, "child", ch.Name)
			p.add("oakley_child_too_big_packets_total", "counter", "Packets of a child larger than its tunnel MTU.", float64(ch.TooBig), "connection", c.Name, "child", ch.Name)
			for _, sa := range ch.SAs {
				l := []string{"connection", c.Name, "child", ch.Name, "direction", sa.Dir, "spi", sa.SPI}
				p.add("oakley_sa_packets_total", "counter", "", float64(sa.Packets), l...)
				p.add("oakley_sa_bytes_total", "counter", "", float64(sa.Bytes), l...)
				for _, k := range sortedKeys(sa.Errors) {
					p.add("oakley_sa_errors_total", "counter", "", float64(sa.Errors[k]), append(l, "reason", k)...)
				}
			}
		}
	}
	p.add("go_goroutines", "gauge", "Number of goroutines that currently exist.", float64(r.Runtime.Goroutines))
	p.add("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.", float64(r.Runtime.HeapBytes))
	p.add("go_memstats_mallocs_total", "counter", "Total number of heap objects allocated.", float64(r.Runtime.Mallocs))
	p.write(w)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

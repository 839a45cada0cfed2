package main

// Prometheus text exposition (format 0.0.4) on /metrics, written by hand: a handful of
// counters needs no client library.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
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
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, d.status())
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

func promLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func writeMetrics(w io.Writer, r *statusReport) {
	names := make([]string, 0, len(r.Counters))
	for k := range r.Counters {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "# HELP oakley_dataplane_total Data plane counters by name.")
	fmt.Fprintln(w, "# TYPE oakley_dataplane_total counter")
	for _, k := range names {
		fmt.Fprintf(w, "oakley_dataplane_total{counter=\"%s\"} %d\n", k, r.Counters[k])
	}
	if len(r.IKECounters) > 0 {
		names = names[:0]
		for k := range r.IKECounters {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintln(w, "# HELP oakley_ike_total IKE counters by name.")
		fmt.Fprintln(w, "# TYPE oakley_ike_total counter")
		for _, k := range names {
			fmt.Fprintf(w, "oakley_ike_total{counter=\"%s\"} %d\n", k, r.IKECounters[k])
		}
	}
	fmt.Fprintln(w, "# HELP oakley_sa_packets_total Packets through an IPsec SA.")
	fmt.Fprintln(w, "# TYPE oakley_sa_packets_total counter")
	fmt.Fprintln(w, "# HELP oakley_sa_bytes_total Inner bytes through an IPsec SA.")
	fmt.Fprintln(w, "# TYPE oakley_sa_bytes_total counter")
	fmt.Fprintln(w, "# HELP oakley_sa_errors_total Packets an IPsec SA refused, by reason.")
	fmt.Fprintln(w, "# TYPE oakley_sa_errors_total counter")
	for _, c := range r.Connections {
		for _, ch := range c.Children {
			for _, sa := range ch.SAs {
				l := fmt.Sprintf(`connection="%s",child="%s",dir="%s",spi="%s"`, promLabel(c.Name), promLabel(ch.Name), sa.Dir, sa.SPI)
				fmt.Fprintf(w, "oakley_sa_packets_total{%s} %d\n", l, sa.Packets)
				fmt.Fprintf(w, "oakley_sa_bytes_total{%s} %d\n", l, sa.Bytes)
				for k, v := range sa.Errors {
					fmt.Fprintf(w, "oakley_sa_errors_total{%s,reason=\"%s\"} %d\n", l, k, v)
				}
			}
		}
	}
}

//go:build linux

package main

// Drop and reordering counters of every queue a tunnelled packet passes, so a retransmission
// can be traced to where the packet was lost: oakley's own counters (send errors, device
// write errors, too-many-segments, unknown SPI, each SA's replay/integrity/... errors), the
// kernel's UDP socket counters and the TCP receiver's out-of-order counters in each
// namespace, every link's dropped packets, and the per-CPU backlog drops (softnet_stat, not
// per namespace).

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"oakley/e2e/lab"
)

// kernelCounters picks these fields of /proc/net/snmp and /proc/net/netstat.
var kernelCounters = map[string]bool{
	"Udp:InErrors": true, "Udp:RcvbufErrors": true, "Udp:SndbufErrors": true, "Udp:MemErrors": true,
	"TcpExt:TCPOFOQueue": true, "TcpExt:TCPOFODrop": true, "TcpExt:TCPSACKReorder": true,
	"TcpExt:TCPTSReorder": true, "TcpExt:TCPLossProbes": true, "TcpExt:TCPBacklogDrop": true,
	"TcpExt:TCPRcvQDrop": true, "TcpExt:TCPZeroWindowDrop": true, "IpExt:InNoRoutes": true,
	"Ip:InDiscards": true, "Ip:OutDiscards": true,
}

// oakleyDropCounters are the data plane counters that count lost packets.
var oakleyDropCounters = []string{"send_errors", "device_write_errors", "device_read_errors",
	"too_many_segments", "unknown_spi", "malformed", "dropped_no_sa", "dropped_no_policy", "quiesced", "oversized",
	"icmp_too_big_sent"}

func dropSnapshot(l *lab.Lab, left, right string) map[string]uint64 {
	m := map[string]uint64{}
	for _, side := range []struct{ ns, name string }{{left, "left"}, {right, "right"}} {
		for _, f := range []string{"/proc/net/snmp", "/proc/net/netstat"} {
			out, err := l.Exec(side.ns, "cat", f)
			if err == nil {
				parseProcNet(out, side.name, m)
			}
		}
		if out, err := l.Exec(side.ns, "ip", "-s", "-j", "link"); err == nil {
			var links []struct {
				Name  string `json:"ifname"`
				Stats struct {
					RX struct{ Dropped, Errors uint64 } `json:"rx"`
					TX struct{ Dropped, Errors uint64 } `json:"tx"`
				} `json:"stats64"`
			}
			if json.Unmarshal([]byte(out), &links) == nil {
				for _, k := range links {
					m[side.name+" "+k.Name+" rx_dropped"] = k.Stats.RX.Dropped
					m[side.name+" "+k.Name+" tx_dropped"] = k.Stats.TX.Dropped
					m[side.name+" "+k.Name+" rx_errors"] = k.Stats.RX.Errors
					m[side.name+" "+k.Name+" tx_errors"] = k.Stats.TX.Errors
				}
			}
		}
	}
	for i, o := range oakleys {
		var st oakStatus
		if o.Status(&st) != nil {
			continue
		}
		side := []string{"left", "right"}[min(i, 1)]
		for _, c := range oakleyDropCounters {
			m[side+" oakley "+c] = st.Counters[c]
		}
		for _, c := range st.Connections {
			for _, ch := range c.Children {
				for _, sa := range ch.SAs {
					for k, v := range sa.Errors {
						m[side+" oakley sa-"+sa.Dir+" "+k] += v
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/softnet_stat"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Fields(line); len(f) > 2 {
				d, _ := strconv.ParseUint(f[1], 16, 64)
				s, _ := strconv.ParseUint(f[2], 16, 64)
				m["host softnet backlog_dropped"] += d
				m["host softnet time_squeeze"] += s
			}
		}
	}
	return m
}

// parseProcNet reads the header/value line pairs of /proc/net/snmp and /proc/net/netstat.
func parseProcNet(out, side string, m map[string]uint64) {
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(vals) || len(names) == 0 {
			continue
		}
		for j := 1; j < len(names); j++ {
			key := names[0] + names[j]
			if !kernelCounters[key] {
				continue
			}
			if v, err := strconv.ParseUint(vals[j], 10, 64); err == nil {
				m[side+" "+key] = v
			}
		}
	}
}

// dropDiff returns the counters that grew between two snapshots.
func dropDiff(a, b map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range b {
		if v > a[k] {
			d[k] = v - a[k]
		}
	}
	return d
}

func printDrops(rep *report) {
	printed := false
	for _, r := range rep.Results {
		if len(r.Drops) == 0 {
			continue
		}
		if !printed {
			fmt.Printf("\ndrops and reordering during the 4- and 16-stream runs (all runs summed; zero counters omitted):\n")
			printed = true
		}
		keys := make([]string, 0, len(r.Drops))
		for k := range r.Drops {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.Drops[k]))
		}
		fmt.Printf("  %-24s %s\n", r.Path, strings.Join(parts, ", "))
	}
}

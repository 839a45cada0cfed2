//go:build linux

package lab

// iperf3 and ping runs, parsed.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TCPResult is one iperf3 TCP run.
type TCPResult struct {
	Gbps        float64 // received throughput
	Retransmits int
	Bytes       float64 // received bytes
	Duration    float64 // seconds
}

// UDPResult is one iperf3 UDP run.
type UDPResult struct {
	PPS         float64 // datagrams per second that arrived
	LostPercent float64
	Gbps        float64
	Bytes       float64
	Duration    float64
}

// Iperf3Server starts a one-shot iperf3 server bound to addr in ns.
func (l *Lab) Iperf3Server(ns, addr string, port int) (*Proc, error) {
	p, err := l.Start(ns, fmt.Sprintf("iperf3-server-%s-%d", strings.ReplaceAll(addr, ":", "_"), port), nil,
		"iperf3", "-s", "-1", "--forceflush", "-B", addr, "-p", strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	return p, p.WaitLog("Server listening", 10*time.Second)
}

// Iperf3TCP runs an iperf3 TCP client from ns (bound to src) to dst for secs with streams.
func (l *Lab) Iperf3TCP(ns, src, dst string, port, secs, streams int) (TCPResult, error) {
	args := []string{"iperf3", "-c", dst, "-p", strconv.Itoa(port), "-t", strconv.Itoa(secs), "-P", strconv.Itoa(streams), "-J"}
	if src != "" {
		args = append(args, "-B", src)
	}
	out, err := l.Exec(ns, args...)
	var r struct {
		End struct {
			SumSent     struct{ Retransmits int } `json:"sum_sent"`
			SumReceived struct {
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
				Seconds       float64 `json:"seconds"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal([]byte(jsonPart(out)), &r); jerr != nil {
		return TCPResult{}, fmt.Errorf("iperf3: %v (%v): %s", err, jerr, tail(out, 500))
	}
	if r.Error != "" {
		return TCPResult{}, fmt.Errorf("iperf3: %s", r.Error)
	}
	return TCPResult{Gbps: r.End.SumReceived.BitsPerSecond / 1e9, Retransmits: r.End.SumSent.Retransmits,
		Bytes: r.End.SumReceived.Bytes, Duration: r.End.SumReceived.Seconds}, nil
}

// Iperf3UDP sends UDP datagrams of size bytes as fast as possible (-b 0) for secs.
func (l *Lab) Iperf3UDP(ns, src, dst string, port, secs, size int) (UDPResult, error) {
	args := []string{"iperf3", "-c", dst, "-p", strconv.Itoa(port), "-t", strconv.Itoa(secs), "-u", "-b", "0", "-l", strconv.Itoa(size), "-J"}
	if src != "" {
		args = append(args, "-B", src)
	}
	out, err := l.Exec(ns, args...)
	var r struct {
		End struct {
			Sum struct {
				Bytes         float64 `json:"bytes"`
				Seconds       float64 `json:"seconds"`
				Packets       float64 `json:"packets"`
				LostPackets   float64 `json:"lost_packets"`
				LostPercent   float64 `json:"lost_percent"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum"`
			SumReceived struct {
				Bytes   float64 `json:"bytes"`
				Seconds float64 `json:"seconds"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal([]byte(jsonPart(out)), &r); jerr != nil {
		return UDPResult{}, fmt.Errorf("iperf3: %v (%v): %s", err, jerr, tail(out, 500))
	}
	if r.Error != "" {
		return UDPResult{}, fmt.Errorf("iperf3: %s", r.Error)
	}
	s := r.End.Sum
	got := s.Packets - s.LostPackets
	if s.Seconds <= 0 {
		return UDPResult{}, fmt.Errorf("iperf3: no UDP summary: %s", tail(out, 500))
	}
	return UDPResult{PPS: got / s.Seconds, LostPercent: s.LostPercent, Gbps: got * float64(size) * 8 / s.Seconds / 1e9,
		Bytes: got * float64(size), Duration: s.Seconds}, nil
}

var rttRE = regexp.MustCompile(`time=([0-9.]+) ms`)

// Ping sends count echo requests from ns (source src) to dst every interval and returns the
// round-trip times of the replies and how many were lost.
func (l *Lab) Ping(ns, src, dst string, count int, interval time.Duration) (rtts []float64, lost int, err error) {
	args := []string{"ping", "-n", "-c", strconv.Itoa(count), "-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "2"}
	if src != "" {
		args = append(args, "-I", src)
	}
	out, err := l.Exec(ns, append(args, dst)...)
	for _, m := range rttRE.FindAllStringSubmatch(out, -1) {
		if v, perr := strconv.ParseFloat(m[1], 64); perr == nil {
			rtts = append(rtts, v)
		}
	}
	lost = count - len(rtts)
	if len(rtts) == 0 {
		return nil, lost, fmt.Errorf("no ping reply: %v: %s", err, tail(out, 300))
	}
	return rtts, lost, nil
}

// Median of the values (0 for none).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile returns the p-th percentile (0..100, nearest rank).
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// jsonPart drops the warnings iperf3 prints before its JSON document.
func jsonPart(out string) string {
	if i := strings.Index(out, "\n{"); i >= 0 && !strings.HasPrefix(out, "{") {
		return out[i+1:]
	}
	return out
}

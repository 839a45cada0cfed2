package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The exposition is checked with a real Prometheus parser: the Python client's
// (python3-prometheus-client on Debian, installed by .ci/run).
const promParseScript = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
json.dump(out, sys.stdout)
`

type promParsed struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Help    string `json:"help"`
	Samples []struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
		Value  float64           `json:"value"`
	} `json:"samples"`
}

// promPython returns a Python interpreter that has prometheus_client, or skips the test.
func promPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(py, "-c", "import prometheus_client.parser").Run(); err == nil {
			return py
		}
	}
	t.Skip("skipping: no python3 with prometheus_client (Debian: python3-prometheus-client, which .ci/run installs)")
	return ""
}

func promParse(py, text string) ([]promParsed, error) {
	cmd := exec.Command(py, "-c", promParseScript)
	cmd.Stdin = strings.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &parseError{err: err, stderr: stderr.String()}
	}
	var fams []promParsed
	if err := json.Unmarshal(out, &fams); err != nil {
		return nil, err
	}
	return fams, nil
}

type parseError struct {
	err    error
	stderr string
}

func (e *parseError) Error() string { return e.err.Error() + ": " + lastLine(e.stderr) }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// metricsFixture is a status with an IKE connection up, one down (last error, a down
// child), a manual one, every data-plane counter and one the exposition does not know.
func metricsFixture() metricsInput {
	counters := map[string]uint64{"unheard_of": 3}
	for k := range dataplaneMetrics {
		counters[k] = uint64(len(k))
	}
	sa := func(dir, spi string) saStatus {
		return saStatus{Dir: dir, SPI: spi, Packets: 10, Bytes: 1000, Errors: map[string]uint64{"replay": 2, "auth": 1}}
	}
	ts := []string{"192.0.2.0/24"}
	r := &statusReport{Schema: statusSchema, Version: `v1.0 "quoted" \ back`, Device: deviceStatus{Name: "oakley0", MTU: 1400, Addresses: ts},
		Counters: counters, IKECounters: map[string]uint64{"ike_established": 1, "deletes_in": 2},
		Connections: []connStatus{
			{Name: "up", Keying: "ike", State: "established", IKESAs: []ikeSAStatus{{State: "established"}, {State: "established"}},
				Clients: []clientStatus{{Identity: "alice", VirtualIPs: []string{"203.0.113.16"}, Since: "2026-01-02T15:04:05Z"},
					{Identity: "bob", VirtualIPs: []string{"203.0.113.17"}, Since: "2026-01-02T15:04:05Z"}},
				Children: []childStatus{{Name: "net", State: "installed", LocalTS: ts, RemoteTS: ts, SAs: []saStatus{sa("in", "0x00001000"), sa("out", "0x00002000")}}}},
			{Name: "down", Keying: "ike", State: "down", LastError: "ike: timeout", NextAttempt: "12s",
				Children: []childStatus{{Name: "net", State: "down", LastError: "ike: timeout", LocalTS: ts, RemoteTS: ts, SAs: []saStatus{}}}},
			{Name: "fixed", Keying: "manual", State: "manual",
				Children: []childStatus{{Name: "lan", State: "installed", NoSA: 4, LocalTS: ts, RemoteTS: ts, SAs: []saStatus{sa("in", "0x00003000"), sa("out", "0x00004000")}}}},
		},
		Runtime: runtimeStatus{Goroutines: 12, HeapBytes: 1 << 20, Mallocs: 99}}
	return metricsInput{status: r, started: time.Unix(1_700_000_000, 0), reloadsOK: 2, reloadsFailed: 1, lastReloadOK: 1_700_000_100}
}

var unitWords = regexp.MustCompile(`_(bytes|seconds)(_|$)`)

// checkExposition parses text with the real parser and checks Prometheus's naming rules.
func checkExposition(t *testing.T, py, text string) map[string]promParsed {
	t.Helper()
	fams, err := promParse(py, text)
	if err != nil {
		t.Fatalf("the Prometheus parser refused the exposition: %v\n%s", err, text)
	}
	byName := map[string]promParsed{}
	for _, f := range fams {
		if _, dup := byName[f.Name]; dup {
			t.Errorf("family %s appears twice", f.Name)
		}
		byName[f.Name] = f
		if f.Type != "counter" && f.Type != "gauge" {
			t.Errorf("family %s has type %q; want counter or gauge (a TYPE line)", f.Name, f.Type)
		}
		if f.Help == "" {
			t.Errorf("family %s has no HELP", f.Name)
		}
		if !strings.HasPrefix(f.Name, "oakley_") && !strings.HasPrefix(f.Name, "go_") && !strings.HasPrefix(f.Name, "process_") {
			t.Errorf("family %s lacks the oakley_ prefix", f.Name)
		}
		for _, s := range f.Samples {
			if f.Type == "counter" && s.Name != f.Name+"_total" {
				t.Errorf("counter sample %s does not end in _total", s.Name)
			}
			if f.Type == "gauge" && strings.HasSuffix(s.Name, "_total") {
				t.Errorf("gauge %s ends in _total", s.Name)
			}
			if m := unitWords.FindStringSubmatch(s.Name); m != nil && !strings.HasSuffix(strings.TrimSuffix(s.Name, "_total"), "_"+m[1]) {
				t.Errorf("%s: the unit %s is not the name's suffix", s.Name, m[1])
			}
		}
	}
	// HELP and TYPE exactly once per family, before its samples.
	for name := range byName {
		full := name
		if byName[name].Type == "counter" {
			full += "_total"
		}
		if n := strings.Count(text, "# TYPE "+full+" "); n != 1 {
			t.Errorf("%d TYPE lines for %s; want 1", n, full)
		}
		if n := strings.Count(text, "# HELP "+full+" "); n != 1 {
			t.Errorf("%d HELP lines for %s; want 1", n, full)
		}
	}
	return byName
}

func sampleValue(f promParsed, labels map[string]string) (float64, bool) {
	for _, s := range f.Samples {
		match := true
		for k, v := range labels {
			if s.Labels[k] != v {
				match = false
			}
		}
		if match {
			return s.Value, true
		}
	}
	return 0, false
}

// TestMetricsExposition: the fixture's exposition parses with Prometheus's parser, follows
// the naming rules, has oakley_child_up 0 for the down child and 1 for the others, the
// connection and child labels, and label values escaped; a malformed exposition is refused
// by the same parser (the check can fail).
func TestMetricsExposition(t *testing.T) {
	py := promPython(t)
	var b bytes.Buffer
	writeMetrics(&b, metricsFixture())
	fams := checkExposition(t, py, b.String())
	for _, c := range []struct {
		conn, child string
		want        float64
	}{{"up", "net", 1}, {"down", "net", 0}, {"fixed", "lan", 1}} {
		v, ok := sampleValue(fams["oakley_child_up"], map[string]string{"connection": c.conn, "child": c.child})
		if !ok || v != c.want {
			t.Errorf("oakley_child_up{connection=%q,child=%q} = %v (present %v), want %v", c.conn, c.child, v, ok, c.want)
		}
	}
	if v, ok := sampleValue(fams["oakley_connection_clients"], map[string]string{"connection": "up"}); !ok || v != 2 {
		t.Errorf("oakley_connection_clients for the gateway = %v (present %v), want 2", v, ok)
	}
	if v, ok := sampleValue(fams["oakley_connection_up"], map[string]string{"connection": "down"}); !ok || v != 0 {
		t.Errorf("oakley_connection_up for the down connection = %v (present %v), want 0", v, ok)
	}
	if v, ok := sampleValue(fams["oakley_sa_errors"], map[string]string{"connection": "up", "child": "net", "direction": "in", "reason": "replay"}); !ok || v != 2 {
		t.Errorf("oakley_sa_errors_total for replay = %v (present %v), want 2", v, ok)
	}
	if v, ok := sampleValue(fams["oakley_dropped_packets"], map[string]string{"reason": "no_sa"}); !ok || v != float64(len("dropped_no_sa")) {
		t.Errorf("oakley_dropped_packets_total{reason=no_sa} = %v (present %v)", v, ok)
	}
	if _, ok := sampleValue(fams["oakley_dataplane_events"], map[string]string{"counter": "unheard_of"}); !ok {
		t.Error("an unknown data-plane counter is not exposed")
	}
	if v, ok := sampleValue(fams["oakley_build_info"], map[string]string{"version": `v1.0 "quoted" \ back`}); !ok || v != 1 {
		t.Errorf("oakley_build_info with an escaped version label: %v %v", v, ok)
	}
	if v, ok := sampleValue(fams["oakley_reloads"], map[string]string{"result": "failure"}); !ok || v != 1 {
		t.Errorf("oakley_reloads_total{result=failure} = %v (present %v), want 1", v, ok)
	}

	// Negative controls: the parser refuses a malformed exposition.
	for _, bad := range []string{
		"# TYPE oakley_x_total counter\noakley_x_total{connection=\"a} 1\n",
		"# TYPE oakley_x_total counter\noakley_x_total{connection=\"a\"} one\n",
	} {
		if _, err := promParse(py, bad); err == nil {
			t.Errorf("the parser accepted a malformed exposition:\n%s", bad)
		}
	}
}

// TestMetricsOfRunningDaemon: the exposition of a real (netstack) daemon parses and names
// its configured children.
func TestMetricsOfRunningDaemon(t *testing.T) {
	py := promPython(t)
	s := startReloadSite(t, manualConn("keep", 1, 0x1000, 0x11, "udp"), manualConn("edit", 2, 0x2000, 0x22, "udp"))
	var b bytes.Buffer
	writeMetrics(&b, s.d.metricsInput())
	fams := checkExposition(t, py, b.String())
	for _, conn := range []string{"keep", "edit"} {
		if v, ok := sampleValue(fams["oakley_child_up"], map[string]string{"connection": conn, "child": "net"}); !ok || v != 1 {
			t.Errorf("oakley_child_up for %s = %v (present %v), want 1", conn, v, ok)
		}
	}
}

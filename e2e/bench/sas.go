//go:build linux

package main

// The SA-count and core-scaling figures come from the esp package's in-memory benchmarks
// (no namespaces, no root): BenchmarkStageSAs takes batches through both pipelines of two
// data planes with 1, 100 or 10,000 installed child SA pairs, traffic spread over 100 of
// them, and reports ns per packet and the heap bytes per installed SA pair;
// BenchmarkScaling runs one data plane's outbound (seal) and inbound (open) pipelines at
// -cpu 1 and 2 with one crypto worker per CPU. Each is run -runs times; medians are
// reported. A namespace run with thousands of IKE-negotiated child SAs is not part of it.

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// saResult is one SA-count measurement.
type saResult struct {
	SAs         int       `json:"installed_child_sas"`
	Mix         string    `json:"mix"` // flow: one flow per batch; mixed: every packet the next flow
	NsPerPacket float64   `json:"ns_per_packet"`
	Runs        []float64 `json:"ns_per_packet_runs"`
	BytesPerSA  float64   `json:"heap_bytes_per_sa_pair"`
	VsOne       float64   `json:"ratio_to_1_sa"`
}

// scalingResult is one BenchmarkScaling case at one -cpu value.
type scalingResult struct {
	Case        string    `json:"case"`
	CPUs        int       `json:"cpus"`
	NsPerPacket float64   `json:"ns_per_packet"`
	Runs        []float64 `json:"ns_per_packet_runs"`
	Speedup     float64   `json:"speedup_vs_1_cpu"`
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-(\d+))?\s+\d+\s+(.*)$`)

// runGoBench runs an esp benchmark and returns, per name and -cpu value, the metrics of
// every run (unit → values).
func runGoBench(args ...string) (map[string]map[string][]float64, error) {
	cmd := exec.Command("go", append([]string{"test", "./esp", "-run", "^$"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test %s: %v: %s", strings.Join(args, " "), err, firstLine(string(out)))
	}
	res := map[string]map[string][]float64{}
	for _, l := range strings.Split(string(out), "\n") {
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		name := m[1]
		if m[2] != "" {
			name += "@" + m[2]
		} else {
			name += "@1"
		}
		if res[name] == nil {
			res[name] = map[string][]float64{}
		}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				res[name][f[i+1]] = append(res[name][f[i+1]], v)
			}
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("go test %s: no benchmark output", strings.Join(args, " "))
	}
	return res, nil
}

func medianOf(v []float64) float64 {
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

func measureSAs(rep *report) error {
	var counts []string
	for _, c := range strings.Split(*saCounts, ",") {
		if _, err := strconv.Atoi(strings.TrimSpace(c)); err != nil {
			return fmt.Errorf("-sas: %q is not a number", c)
		}
		counts = append(counts, strings.TrimSpace(c))
	}
	res, err := runGoBench("-bench", "StageSAs/.*/sas=("+strings.Join(counts, "|")+")$",
		"-benchtime", "2000x", "-count", strconv.Itoa(*runs), "-cpu", "1")
	if err != nil {
		return err
	}
	for _, mix := range []string{"flow", "mixed"} {
		var one float64
		for _, c := range counts {
			m := res["StageSAs/"+mix+"/sas="+c+"@1"]
			if m == nil {
				continue
			}
			n, _ := strconv.Atoi(c)
			r := &saResult{SAs: n, Mix: mix, Runs: m["ns/packet"], NsPerPacket: medianOf(m["ns/packet"]),
				BytesPerSA: medianOf(m["B/SA-pair"])}
			if n == 1 {
				one = r.NsPerPacket
			}
			r.VsOne = ratio(r.NsPerPacket, one)
			rep.SAs = append(rep.SAs, r)
		}
	}
	return nil
}

func measureScaling(rep *report) error {
	res, err := runGoBench("-bench", "Scaling", "-benchtime", "5000x", "-count", strconv.Itoa(*runs), "-cpu", "1,2")
	if err != nil {
		return err
	}
	var names []string
	for name := range res {
		if c, cpu, _ := strings.Cut(name, "@"); cpu == "1" {
			names = append(names, c)
		}
	}
	sort.Strings(names)
	for _, c := range names {
		one := medianOf(res[c+"@1"]["ns/packet"])
		for _, cpus := range []int{1, 2} {
			m := res[c+"@"+strconv.Itoa(cpus)]
			if m == nil {
				continue
			}
			r := &scalingResult{Case: strings.TrimPrefix(c, "Scaling/"), CPUs: cpus, Runs: m["ns/packet"], NsPerPacket: medianOf(m["ns/packet"])}
			r.Speedup = ratio(one, r.NsPerPacket)
			rep.Scaling = append(rep.Scaling, r)
		}
	}
	return nil
}

func printSAs(rep *report) {
	if len(rep.SAs) > 0 {
		fmt.Printf("\nSA count (in-memory, both pipelines, AES-128-GCM, 46-packet batches over 100 of the SAs; medians of %d):\n", rep.Runs)
		fmt.Printf("%-6s %8s %10s %8s %12s\n", "mix", "SAs", "ns/packet", "vs 1 SA", "B/SA pair")
		for _, r := range rep.SAs {
			fmt.Printf("%-6s %8d %10.0f %8.2f %12.0f\n", r.Mix, r.SAs, r.NsPerPacket, r.VsOne, r.BytesPerSA)
		}
	}
	if len(rep.Scaling) > 0 {
		fmt.Printf("\ncore scaling (in-memory, one pipeline, one crypto worker per CPU; medians of %d):\n", rep.Runs)
		fmt.Printf("%-32s %5s %10s %8s\n", "case", "cpus", "ns/packet", "speedup")
		for _, r := range rep.Scaling {
			fmt.Printf("%-32s %5d %10.0f %8.2f\n", r.Case, r.CPUs, r.NsPerPacket, r.Speedup)
		}
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

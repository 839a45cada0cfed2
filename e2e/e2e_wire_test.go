//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wireCase is one tunnel of TestWireFormat.
type wireCase struct {
	name, proposal, encap string
	spiBase               uint32
	a, b                  siteSpec // filled in when the tunnel runs
}

// TestWireFormat is the independent check of issue 3 §6: tshark captures oakley's ESP on
// the veth and decrypts it with the configured keys through its own ESP SA table. Every
// captured ESP packet must decrypt to the inner ICMP packet with the right inner addresses
// and an ICV tshark reports as good, for AES-GCM-16 and AES-CBC + HMAC-SHA-256, over
// ESP-in-UDP (RFC 3948, port 4500) and raw ESP (IP protocol 50). A decode with one wrong
// key must then report that SA's ICVs as bad, which shows the check can fail.
func TestWireFormat(t *testing.T) {
	needNetns(t)
	needTools(t, "tshark")
	t.Parallel()
	p := newPair(t, false, 0)
	pcap := filepath.Join(t.TempDir(), "esp.pcap")
	capture := startProc(t, "tshark", p.b.args("tshark", "-i", "veth0", "-n", "-l", "-P",
		"-f", "udp port 4500 or ip proto 50", "-w", pcap)...)
	waitCapturing(t, capture)

	cases := []*wireCase{
		{name: "aes128gcm16-udp", proposal: "aes128gcm16", encap: "udp", spiBase: 0x2000},
		{name: "aes128-sha256-udp", proposal: "aes128-sha256", encap: "udp", spiBase: 0x3000},
		{name: "aes256gcm16-raw", proposal: "aes256gcm16", encap: "raw", spiBase: 0x4000},
		{name: "aes128-sha256-raw", proposal: "aes128-sha256", encap: "raw", spiBase: 0x5000},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.a, c.b = tunnelSpec{Proposal: c.proposal, Encap: c.encap, SPIBase: c.spiBase}.sites(t)
			startOakley(t, p.a, "a", c.a, launch{})
			startOakley(t, p.b, "b", c.b, launch{})
			if i == 0 {
				// tshark may say "Capturing on" a moment before it captures: ping until it
				// shows an ESP packet.
				for deadline := time.Now().Add(15 * time.Second); !strings.Contains(capture.out.String(), "ESP"); {
					if time.Now().After(deadline) {
						capture.signal(syscall.SIGINT)
						capture.wait(5 * time.Second)
						t.Fatalf("tshark captured no ESP packet:\n%s", capture.out.String())
					}
					ping(p.a, hostA4, hostB4, 1)
					time.Sleep(100 * time.Millisecond)
				}
			}
			mustPing(t, p.a, hostA4, hostB4, 3)
		})
	}
	time.Sleep(200 * time.Millisecond)
	capture.signal(syscall.SIGINT)
	if !capture.wait(10 * time.Second) {
		t.Fatalf("tshark did not stop:\n%s", capture.out.String())
	}
	if t.Failed() {
		return
	}

	var sas []string
	for _, c := range cases {
		sas = append(sas, espSAs(t, c, "")...)
	}
	pkts := decodeESP(t, pcap, sas)
	for _, c := range cases {
		ch := c.a.Children[0]
		for _, dir := range []struct {
			spi                uint32
			outerSrc, src, dst string
			icmpType           string
		}{
			{ch.OutSPI, outerA4, hostA4, hostB4, "8"}, // echo requests A -> B
			{ch.InSPI, outerB4, hostB4, hostA4, "0"},  // echo replies B -> A
		} {
			spi := fmt.Sprintf("0x%08x", dir.spi)
			n := 0
			for _, pk := range pkts {
				if pk.spi != spi {
					continue
				}
				n++
				if !pk.icvGood || pk.icvBad {
					t.Errorf("%s: ESP SPI %s seq %s (frame %s): tshark does not report the ICV as good", c.name, spi, pk.seq, pk.frame)
				}
				if pk.icmpType != dir.icmpType || pk.innerSrc != dir.src || pk.innerDst != dir.dst || pk.outerSrc != dir.outerSrc {
					t.Errorf("%s: ESP SPI %s seq %s (frame %s) decrypted to ICMP type %q %s -> %s (outer from %s), want type %s %s -> %s (outer from %s)",
						c.name, spi, pk.seq, pk.frame, pk.icmpType, pk.innerSrc, pk.innerDst, pk.outerSrc, dir.icmpType, dir.src, dir.dst, dir.outerSrc)
				}
				if pk.udp != (c.encap == "udp") {
					t.Errorf("%s: ESP SPI %s (frame %s): UDP-encapsulated = %v, want encap %s", c.name, spi, pk.frame, pk.udp, c.encap)
				}
			}
			if n < 3 {
				t.Errorf("%s: %d ESP packets with SPI %s in the capture, want at least 3", c.name, n, spi)
			}
		}
	}
	if t.Failed() {
		t.Logf("tshark's view of the capture:\n%s", dumpESP(t, pcap, sas))
		return
	}
	t.Logf("tshark decrypted %d ESP packets of %d SAs, every ICV good", len(pkts), len(sas))

	// The negative control: the same decode with a wrong key for A's outbound SA of the first
	// case must fail that SA's packets (and only that SA's): no good ICV, no echo request.
	// (tshark reports such an ICV as bad, unless the garbage it decrypted has an impossible
	// ESP trailer, in which case it reports neither; it dissects the garbage anyway, so an
	// "ICMP" of some random type may appear.)
	bad := cases[0]
	sas = append(espSAs(t, bad, randomID(t, len(bad.a.Children[0].OutKey)/2)), sas[2:]...)
	spi := fmt.Sprintf("0x%08x", bad.a.Children[0].OutSPI)
	n, nBad := 0, 0
	for _, pk := range decodeESP(t, pcap, sas) {
		if pk.spi == spi {
			n++
			if pk.icvBad {
				nBad++
			}
			if pk.icvGood || (pk.icmpType == "8" && pk.innerSrc == hostA4 && pk.innerDst == hostB4) {
				t.Errorf("with a wrong key, tshark reports SPI %s seq %s (frame %s) with a good ICV (%v) or decodes the echo request", spi, pk.seq, pk.frame, pk.icvGood)
			}
		} else if !pk.icvGood {
			t.Errorf("SPI %s frame %s: ICV not good although its key is right", pk.spi, pk.frame)
		}
	}
	if n == 0 || nBad == 0 {
		t.Errorf("negative control: %d packets with SPI %s, %d of them with \"ICV bad\"; want some, and some bad", n, spi, nBad)
	}
	t.Logf("negative control: with a wrong key tshark rejected all %d packets of SPI %s (%d with \"ICV bad\")", n, spi, nBad)
}

// espSAs returns tshark's esp_sa UAT entries for the two SAs of c (tshark 4.0's field
// order: protocol, source, destination, SPI, encryption, key, authentication, key; see
// /work/shared/interop/strongswan/keys.py). wrongKey, if set, replaces A's outbound
// encryption key.
func espSAs(t *testing.T, c *wireCase, wrongKey string) []string {
	t.Helper()
	ch := c.a.Children[0]
	var enc, auth string
	switch c.proposal {
	case "aes128gcm16", "aes256gcm16":
		enc, auth = "AES-GCM with 16 octet ICV [RFC4106]", "NULL"
	case "aes128-sha256":
		enc, auth = "AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"
	default:
		t.Fatalf("espSAs: no tshark names for %s", c.proposal)
	}
	hexOrEmpty := func(k string) string {
		if k == "" {
			return ""
		}
		return "0x" + k
	}
	outKey := ch.OutKey
	if wrongKey != "" {
		outKey = wrongKey
	}
	entry := func(src, dst string, spi uint32, key, authKey string) string {
		return fmt.Sprintf(`"IPv4","%s","%s","0x%08x","%s","%s","%s","%s"`, src, dst, spi, enc, hexOrEmpty(key), auth, hexOrEmpty(authKey))
	}
	return []string{
		entry(outerA4, outerB4, ch.OutSPI, outKey, ch.OutAuthKey),
		entry(outerB4, outerA4, ch.InSPI, ch.InKey, ch.InAuthKey),
	}
}

// espPacket is one ESP packet as tshark decoded it.
type espPacket struct {
	frame, spi, seq              string
	icvGood, icvBad, udp         bool
	icmpType                     string
	outerSrc, innerSrc, innerDst string
}

// tsharkDecrypt are the options that make tshark decrypt and authenticate ESP with sas.
func tsharkDecrypt(pcap string, sas []string) []string {
	args := []string{"-r", pcap, "-n", "-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"}
	for _, sa := range sas {
		args = append(args, "-o", "uat:esp_sa:"+sa)
	}
	return args
}

// decodeESP has tshark decrypt the capture and returns every ESP packet in it.
func decodeESP(t *testing.T, pcap string, sas []string) []espPacket {
	t.Helper()
	args := append(tsharkDecrypt(pcap, sas), "-Y", "esp", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "frame.number", "-e", "esp.spi", "-e", "esp.sequence", "-e", "esp.icv_good", "-e", "esp.icv_bad",
		"-e", "udp.dstport", "-e", "icmp.type", "-e", "ip.src", "-e", "ip.dst")
	out, err := runTimeout(60*time.Second, "tshark", args...)
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	var pkts []espPacket
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 9 {
			continue
		}
		// The ESP fields are the outer ESP header's: the first occurrence. (Garbage decrypted
		// with a wrong key can look like more headers.)
		first := func(s string) string { v, _, _ := strings.Cut(s, ","); return v }
		srcs, dsts := strings.Split(f[7], ","), strings.Split(f[8], ",")
		pk := espPacket{frame: f[0], spi: strings.ToLower(first(f[1])), seq: first(f[2]), icvGood: isTrue(first(f[3])),
			icvBad: isTrue(first(f[4])), udp: first(f[5]) == "4500", icmpType: f[6], outerSrc: srcs[0]}
		if len(srcs) == 2 && len(dsts) == 2 {
			pk.innerSrc, pk.innerDst = srcs[1], dsts[1]
		}
		pkts = append(pkts, pk)
	}
	if len(pkts) == 0 {
		t.Fatalf("tshark found no ESP packet in the capture:\n%s", out)
	}
	return pkts
}

// dumpESP is tshark's one-line summary of each packet, decrypted, for failure messages.
func dumpESP(t *testing.T, pcap string, sas []string) string {
	t.Helper()
	out, err := runTimeout(60*time.Second, "tshark", tsharkDecrypt(pcap, sas)...)
	if err != nil {
		return fmt.Sprintf("tshark: %v\n%s", err, out)
	}
	return out
}

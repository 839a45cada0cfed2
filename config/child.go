package config

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"oakley/crypto"
)

// Defaults of a [[connection.child]] (CONFIG.md).
const (
	defaultMode         = "tunnel"
	defaultChildRekey   = time.Hour
	defaultReplayWindow = 1024
	maxReplayWindow     = 65536
)

// manualKeys are the child keys used only with keying = "manual".
var manualKeys = []string{"in_spi", "out_spi", "in_key", "out_key", "in_auth_key", "out_auth_key"}

func (l *loader) child(t *table, c *Connection) *Child {
	ch := &Child{}
	manual := c.Keying == "manual"
	if name, ok := t.optStr("name"); ok {
		if validName(name) {
			ch.Name = name
			t.name = fmt.Sprintf("child %q of connection %q", name, c.Name)
		} else {
			l.r.errorf(t.keyLine("name"), "child name %q is not valid; want 1..64 letters, digits, '-', '_' or '.'", name)
		}
	} else if !t.has("name") {
		l.r.errorf(t.line(), `%s has no name; add name = "..."`, t.name)
	}
	ch.Mode = t.enum("mode", defaultMode, "tunnel", "transport")
	ikev1 := !manual && c.Version == 1
	if len(c.VIPs) > 0 && !manual && ch.Mode != "transport" && !t.has("local_ts") {
		// A remote-access client proposes everything of the families it asks an address
		// for; the gateway narrows that to the address it assigns (strongSwan's dynamic).
		for _, v := range c.VIPs {
			ch.LocalTS = append(ch.LocalTS, TrafficSelector{Prefix: netip.PrefixFrom(v, 0).Masked(), PortHi: 65535})
		}
	} else {
		ch.LocalTS = l.selectors(t, "local_ts", ch.Mode, c.LocalIP, "local_addr", ikev1)
	}
	ch.RemoteTS = l.selectors(t, "remote_ts", ch.Mode, c.RemoteIP, "remote_addr", ikev1)
	l.childProposals(t, c, ch)
	ch.RekeyTime = t.rekeyTime(defaultChildRekey)
	ch.LifeBytes = t.floorCount("life_bytes", t.byteSize("life_bytes", 0, math.MaxInt64), MinLifeBytes, "bytes (1MB)")
	ch.LifePackets = t.floorCount("life_packets", t.integer("life_packets", 0, 0, math.MaxInt64, "a packet count ≥ 0 (0 = unlimited)"), MinLifePackets, "packets")
	ch.ReplayWindow = int(t.integer("replay_window", defaultReplayWindow, 0, maxReplayWindow,
		fmt.Sprintf("0..%d packets", maxReplayWindow)))
	if t.has("replay_window") && ch.ReplayWindow == 0 {
		l.r.warnf(t.keyLine("replay_window"), "replay_window = 0 turns off anti-replay protection (RFC 4303 §3.4.3)")
	}
	// A child without start_action inherits the connection's.
	ch.StartAction = t.enum("start_action", c.StartAction, "start", "trap", "none")

	if manual {
		l.manualChild(t, c, ch)
	} else {
		for _, k := range manualKeys {
			if t.has(k) {
				l.r.warnf(t.keyLine(k), `%s is ignored with keying = %q`, k, c.Keying)
			}
		}
	}
	t.done()
	return ch
}

// selectors reads local_ts / remote_ts. In transport mode an absent list defaults to the
// IKE address (RFC 4301 §4.4.1: transport mode protects traffic between the two hosts).
func (l *loader) selectors(t *table, key, mode string, ip netip.Addr, addrKey string, ikev1 bool) []TrafficSelector {
	texts, lines, present := t.strList(key)
	if !present {
		if mode == "transport" && ip.IsValid() {
			return []TrafficSelector{{Prefix: netip.PrefixFrom(ip, ip.BitLen()), PortHi: 65535}}
		}
		if mode == "transport" {
			l.r.errorf(t.line(), "%s needs %s (%s is not an IP address to default to)", t.name, key, addrKey)
		} else {
			l.r.errorf(t.line(), `%s needs %s in tunnel mode, e.g. %s = ["192.0.2.0/24"]`, t.name, key, key)
		}
		return nil
	}
	if t.emptyList(key) {
		l.r.errorf(t.keyLine(key), "%s is empty; want at least one selector like \"192.0.2.0/24\"", key)
		return nil
	}
	var out []TrafficSelector
	for i, s := range texts {
		ts, err := parseTS(s)
		if err != nil {
			l.r.errorf(lines[i], "%s: %v", key, err)
			continue
		}
		if ikev1 && !ts.AnyPort() && ts.PortLo != ts.PortHi {
			// RFC 2407 §4.6.2: the Quick Mode identities carry one port (0 = any).
			l.r.errorf(lines[i], "%s: %s: IKEv1 can negotiate a single port or any port, not a range (RFC 2407 §4.6.2)", key, ts)
			continue
		}
		out = append(out, ts)
	}
	return out
}

// childProposals reads esp_proposals and ah_proposals.
func (l *loader) childProposals(t *table, c *Connection, ch *Child) {
	insecure := l.cfg.Daemon.InsecureAlgorithms
	esp, espLines, hasESP := t.strList("esp_proposals")
	ah, ahLines, _ := t.strList("ah_proposals")
	if len(ah) > 0 {
		if hasESP {
			l.r.errorf(t.keyLine("esp_proposals"), "esp_proposals and ah_proposals exclude each other: a non-empty ah_proposals means AH instead of ESP")
		}
		if c.Encap != "raw" {
			// RFC 3948 encapsulates only ESP in UDP, and AH authenticates the outer IP
			// header that NAT rewrites.
			l.r.errorf(t.keyLine("ah_proposals"), `ah_proposals needs encap = "raw" on the connection (AH cannot be UDP-encapsulated; encap is %q)`, c.Encap)
		}
		ch.AHProposals = l.proposals("ah_proposals", crypto.ProtoAH, ah, ahLines, insecure)
		return
	}
	switch {
	case t.emptyList("esp_proposals"):
		l.r.errorf(t.keyLine("esp_proposals"), "esp_proposals is empty; omit it for the defaults %s", quoteList(crypto.DefaultProposals(crypto.ProtoESP)))
	case hasESP:
		ch.ESPProposals = l.proposals("esp_proposals", crypto.ProtoESP, esp, espLines, insecure)
	case c.Keying == "manual":
		// manualChild reports the missing proposal.
	default:
		defs := crypto.DefaultProposals(crypto.ProtoESP)
		lines := make([]int, len(defs))
		for i := range lines {
			lines[i] = t.line()
		}
		ch.ESPProposals = l.proposals("esp_proposals", crypto.ProtoESP, defs, lines, insecure)
	}
}

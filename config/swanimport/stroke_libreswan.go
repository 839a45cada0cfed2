package swanimport

// libreswan's ipsec.conf shares the stroke format and most keys; these are the spellings
// that differ (libreswan's ipsec.conf(5)): other key names for the same setting, ikev2= for
// the version, and proposals written "aes256-sha2_256;modp2048" with libreswan's names.

import (
	"sort"
	"strings"
)

// libreswanKeys maps libreswan key names to the strongSwan keys with the same meaning.
var libreswanKeys = map[string]string{
	"salifetime":    "lifetime",
	"keylife":       "lifetime",
	"rekeymargin":   "margintime",
	"phase2alg":     "esp",
	"aggrmode":      "aggressive",
	"encapsulation": "forceencaps",
}

// libreswanAliases lets the converter read libreswan's spellings as strongSwan's: an alias
// fills in the strongSwan key when that is absent (its own line is still what is named).
// It returns a note per alias used.
func libreswanAliases(eff map[string]*KV) []string {
	var notes []string
	aliases := make([]string, 0, len(libreswanKeys))
	for a := range libreswanKeys {
		aliases = append(aliases, a)
	}
	sort.Strings(aliases)
	for _, alias := range aliases {
		key := libreswanKeys[alias]
		kv := eff[alias]
		if kv == nil || eff[key] != nil {
			continue
		}
		v := kv.Value
		switch {
		case alias == "encapsulation" && strings.EqualFold(v, "auto"):
			v = "no"
		case alias == "phase2alg" && eff["phase2"] != nil && strings.EqualFold(eff["phase2"].Value, "ah"):
			key = "ah"
		}
		eff[key] = &KV{Key: alias, Value: v, Pos: kv.Pos}
		eff[key].used = true // the alias line is named through the copy's position
		kv.used = true
		notes = append(notes, kv.Pos.String()+": libreswan's "+alias+" read as "+key)
	}
	if kv := eff["ikev2"]; kv != nil && eff["keyexchange"] == nil {
		kv.used = true
		switch strings.ToLower(strings.TrimSpace(kv.Value)) {
		case "no", "never":
			eff["keyexchange"] = &KV{Key: "ikev2", Value: "ikev1", Pos: kv.Pos}
		case "yes", "insist":
			eff["keyexchange"] = &KV{Key: "ikev2", Value: "ikev2", Pos: kv.Pos}
		default: // permit, propose: either, IKEv2 first
			eff["keyexchange"] = &KV{Key: "ikev2", Value: "ike", Pos: kv.Pos}
		}
		notes = append(notes, kv.Pos.String()+": libreswan's ikev2="+kv.Value+" read as keyexchange="+eff["keyexchange"].Value)
	}
	if kv := eff["phase2"]; kv != nil {
		kv.used = true
		notes = append(notes, kv.Pos.String()+": libreswan's phase2="+kv.Value+" chooses between esp and ah")
	}
	if kv := eff["auto"]; kv != nil && strings.EqualFold(strings.TrimSpace(kv.Value), "ondemand") {
		eff["auto"] = &KV{Key: "auto", Value: "route", Pos: kv.Pos}
		kv.used = true
		notes = append(notes, kv.Pos.String()+": libreswan's auto=ondemand read as route")
	}
	return notes
}

// libreswanNames are libreswan's algorithm names that oakley spells otherwise.
var libreswanNames = map[string]string{
	"sha2": "sha256", "sha2_256": "sha256", "sha2_384": "sha384", "sha2_512": "sha512",
	"aes_gcm128": "aes128gcm16", "aes_gcm_128": "aes128gcm16", "aes_gcm256": "aes256gcm16",
	"aes_gcm_256": "aes256gcm16", "aes_gcm192": "aes192gcm16", "aes_gcm_192": "aes192gcm16",
	"dh2": "modp1024", "dh5": "modp1536", "dh14": "modp2048", "dh15": "modp3072", "dh16": "modp4096",
	"dh18": "modp8192", "dh19": "ecp256", "dh20": "ecp384", "dh21": "ecp521", "dh31": "curve25519",
	"chacha20_poly1305": "chacha20poly1305",
}

// libreswanProposals rewrites libreswan's proposal syntax ("aes256-sha2_256;modp2048", the
// DH group after ';') into strongSwan's; changed says whether anything was rewritten.
func libreswanProposals(v string) (string, bool) {
	if !strings.ContainsAny(v, ";_") && !strings.Contains(v, "dh") && !strings.Contains(v, "sha2-") && !strings.HasSuffix(v, "sha2") {
		return v, false
	}
	changed := false
	items := splitList(v)
	for i, item := range items {
		if strings.Contains(item, ";") {
			item, changed = strings.ReplaceAll(item, ";", "-"), true
		}
		toks := strings.Split(item, "-")
		for j, tok := range toks {
			if n, ok := libreswanNames[strings.ToLower(tok)]; ok {
				toks[j], changed = n, true
			}
		}
		items[i] = strings.Join(toks, "-")
	}
	return strings.Join(items, ", "), changed
}

// libreswanOnly are keys only libreswan's ipsec.conf has; one of them marks a file as
// libreswan's, whose proposals are exact (strongSwan's "!" is implied).
var libreswanOnly = []string{"ikev2", "phase2alg", "phase2", "salifetime", "keylife", "rekeymargin",
	"aggrmode", "encapsulation", "protostack", "virtual_private", "virtual-private", "nat_traversal",
	"plutodebug", "leftrsasigkey", "rightrsasigkey", "leftnexthop", "rightnexthop", "pfs", "ikepad", "narrowing"}

func isLibreswan(conf *IpsecConf) bool {
	stanzas := append(append([]*Stanza(nil), conf.Conns...), conf.CAs...)
	if conf.Setup != nil {
		stanzas = append(stanzas, conf.Setup)
	}
	for _, st := range stanzas {
		for _, k := range libreswanOnly {
			if st.key(k) != nil {
				return true
			}
		}
	}
	return false
}

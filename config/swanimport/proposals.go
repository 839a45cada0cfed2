package swanimport

// Proposals: strongSwan's keywords are oakley's (CONFIG.md "Proposal keywords"), so a proposal
// is kept as written unless it names an algorithm oakley does not implement (crypto.Lookup
// fails), breaks a rule oakley enforces (crypto.ParseProposal), or relies on what strongSwan
// does with IKEv1 proposals: "only one algorithm per kind is allowed per proposal, more
// algorithms get implicitly stripped" (swanctl.conf(5) proposals) and no separate PRF.

import (
	"fmt"
	"strings"

	"oakley/crypto"
)

// convertProposals converts a comma-separated proposal list for proto. key names the
// strongSwan setting for messages. It returns the proposals to write (nil: write none, so
// that oakley's defaults apply) and the insecure algorithms they use.
func convertProposals(d *diags, pos Pos, key, value string, proto crypto.Protocol, ikev1 bool) ([]string, []string) {
	var out, insecure []string
	items := splitList(value)
	for _, item := range items {
		if strings.EqualFold(item, "default") {
			if len(items) == 1 {
				d.warnf(pos, "%s = default: strongSwan's default set differs from oakley's; oakley's defaults (%s) are used", key, strings.Join(crypto.DefaultProposals(proto), ", "))
			} else {
				d.warnf(pos, "%s: the keyword \"default\" (strongSwan's default set) is dropped; oakley offers only the listed proposals", key)
			}
			continue
		}
		text, ok := filterProposal(d, pos, key, item, proto, ikev1)
		if !ok {
			continue
		}
		p, err := crypto.ParseProposal(proto, text, true)
		if err != nil {
			d.warnf(pos, "%s: proposal %q cannot be used by oakley (%s); dropped", key, item, strings.TrimPrefix(err.Error(), "crypto: "))
			continue
		}
		for _, set := range [][]*crypto.Algorithm{p.Encr, p.Integ, p.PRF, p.DH} {
			for _, a := range set {
				if a.Insecure {
					insecure = append(insecure, a.Name)
				}
			}
		}
		out = append(out, text)
	}
	if len(out) == 0 && len(items) > 0 && !(len(items) == 1 && strings.EqualFold(items[0], "default")) {
		d.warnf(pos, "%s: no proposal is usable by oakley; its defaults (%s) are used instead", key, strings.Join(crypto.DefaultProposals(proto), ", "))
	}
	return out, insecure
}

// filterProposal drops the keywords oakley lacks and, for IKEv1, what strongSwan strips.
func filterProposal(d *diags, pos Pos, key, item string, proto crypto.Protocol, ikev1 bool) (string, bool) {
	var keep []string
	seen := map[crypto.Kind]string{}
	for _, tok := range strings.Split(item, "-") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		a := crypto.Lookup(tok)
		if a == nil {
			d.warnf(pos, "%s: %q in proposal %q is not implemented by oakley; dropped from the proposal", key, tok, item)
			continue
		}
		if ikev1 {
			if a.Kind == crypto.KindPRF && proto == crypto.ProtoIKEv1 {
				d.warnf(pos, "%s: %q in proposal %q: IKEv1 uses the HMAC of its hash as PRF; dropped", key, tok, item)
				continue
			}
			if first, dup := seen[a.Kind]; dup && a.Kind != crypto.KindESN {
				d.warnf(pos, "%s: %q in proposal %q: IKEv1 takes one %s per proposal and strongSwan strips the others (it uses %s); dropped", key, tok, item, a.Kind, first)
				continue
			}
			seen[a.Kind] = tok
		}
		keep = append(keep, tok)
	}
	if len(keep) == 0 {
		d.warnf(pos, "%s: proposal %q has no algorithm oakley implements; dropped", key, item)
		return "", false
	}
	return strings.Join(keep, "-"), true
}

// sameGroup keeps the proposals that use the first one's DH group: Aggressive Mode sends
// its key exchange first and cannot negotiate the group (RFC 2409 §5).
func sameGroup(d *diags, pos Pos, key string, props []string) []string {
	group := func(p string) string {
		for _, tok := range strings.Split(p, "-") {
			if a := crypto.Lookup(tok); a != nil && a.Kind == crypto.KindDH {
				return a.Name
			}
		}
		return ""
	}
	if len(props) == 0 {
		return props
	}
	g := group(props[0])
	out := props[:1]
	for _, p := range props[1:] {
		if group(p) != g {
			d.warnf(pos, "%s: proposal %q uses another DH group than %q; Aggressive Mode sends one group (RFC 2409 §5), so strongSwan's first proposal decides; dropped", key, p, props[0])
			continue
		}
		out = append(out, p)
	}
	return out
}

// insecureNote is the comment that explains insecure_algorithms = true.
func insecureNote(algs []string) string {
	return fmt.Sprintf("the strongSwan configuration uses %s", strings.Join(dedupStrings(algs), ", "))
}

func dedupStrings(xs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

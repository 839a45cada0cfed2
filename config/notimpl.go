package config

// Features the configuration describes (CONFIG.md) before the daemon implements them. Load,
// and so `oakley check` and `oakley up`, refuses every use of a feature still listed in
// notImplemented, with "... is not implemented yet" at the line of the key that asks for it;
// everything else about such a key is checked as usual, so a configuration written today
// keeps working when the feature lands.

// feature is one refusable feature.
type feature uint8

const (
	featIKEv2      feature = iota + 1 // version = 2
	featMOBIKE                        // mobike = true (RFC 4555)
	featEAP                           // eap = "mschapv2" (RFC 7296 §2.16)
	featEAPTLS                        // eap = "tls" (RFC 5216 in IKEv2)
	featPubkey                        // auth = "pubkey" (certificate signatures)
	featPKE                           // auth = "pke" (IKEv1 public-key encryption)
	featXAUTH                         // xauth = "client" | "server"
	featVIPsIKEv1                     // vips on an IKEv1 connection (Mode Config client)
	featVIPsIKEv2                     // vips on an IKEv2 connection (CP CFG_REQUEST)
	featPoolsIKEv1                    // pools on an IKEv1 connection (Mode Config server)
	featPoolsIKEv2                    // pools on an IKEv2 connection (CP CFG_REPLY)
)

// notImplemented decides which features Load still refuses. It is the only place that does:
// whoever implements a feature in the daemon deletes that feature's line here (the test
// TestNotImplemented then checks that its example configuration is accepted instead).
var notImplemented = map[feature]bool{}

// featureText names a feature in the refusal, with a hint where there is an alternative.
var featureText = map[feature]string{
	featIKEv2:      "IKEv2 is not implemented yet; use version = 1",
	featMOBIKE:     "mobike (RFC 4555) is not implemented yet",
	featEAP:        `eap = "mschapv2" (IKEv2 EAP-MSCHAPv2) is not implemented yet`,
	featEAPTLS:     `eap = "tls" is not implemented yet`,
	featPubkey:     `auth = "pubkey" (certificate signatures) is not implemented yet; use auth = "psk"`,
	featPKE:        `auth = "pke" (IKEv1 public-key encryption) is not implemented yet; use auth = "psk"`,
	featXAUTH:      "xauth (IKEv1 XAUTH) is not implemented yet",
	featVIPsIKEv1:  "vips with IKEv1 (Mode Config) is not implemented yet",
	featVIPsIKEv2:  "vips with IKEv2 (configuration payload) is not implemented yet",
	featPoolsIKEv1: "pools with IKEv1 (Mode Config) is not implemented yet",
	featPoolsIKEv2: "pools with IKEv2 (configuration payload) is not implemented yet",
}

// refuseUnimplemented reports f at line when the loader's table still lists it.
func (l *loader) refuseUnimplemented(f feature, line int) {
	if l.refused[f] {
		l.r.errorf(line, "%s", featureText[f])
	}
}

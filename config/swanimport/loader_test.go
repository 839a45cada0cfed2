package swanimport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"oakley/config"
)

// documentedNotLoaded are CONFIG.md keys and tables that oakley's loader may not know yet
// (another part of the project adds them); the importer writes them because CONFIG.md is
// the contract.
var documentedNotLoaded = map[string]bool{
	"fragmentation": true, "send_cert": true, "vips": true, "pools": true, "xauth": true,
	"xauth_id": true, "eap": true, "eap_id": true, "password_file": true, "crls": true,
	"pool": true, "user": true,
}

var unknownKeyRe = regexp.MustCompile(`unknown key "([^"]+)"`)

// disallowedErrors returns the loader errors that are not accepted: everything but
// features not implemented yet, CONFIG.md keys the loader does not know yet, and a missing
// local_ts / remote_ts that the importer warned about (a virtual IP known only at run time).
//
// An EAP client authenticates with EAP, not with a certificate (CONFIG.md: auth is then how
// the gateway proves itself), so a loader without EAP asking for its cert and key is the
// same "not yet" kind; eap says whether the conversion uses EAP.
func disallowedErrors(errs config.Errors, warnings []Diag, eap bool) []string {
	warnedTS := map[string]bool{}
	for _, w := range warnings {
		for _, k := range []string{"local_ts", "remote_ts", "cacerts"} {
			if strings.Contains(w.Msg, "set "+k) {
				warnedTS[k] = true
			}
		}
	}
	var bad []string
	for _, e := range errs {
		m := unknownKeyRe.FindStringSubmatch(e.Msg)
		switch {
		case strings.Contains(e.Msg, "not implemented yet"):
		case m != nil && documentedNotLoaded[m[1]]:
		case strings.Contains(e.Msg, "needs local_ts") && warnedTS["local_ts"]:
		case strings.Contains(e.Msg, "needs remote_ts") && warnedTS["remote_ts"]:
		case strings.Contains(e.Msg, "needs cacerts") && warnedTS["cacerts"]:
		case eap && (strings.Contains(e.Msg, "needs cert (") || strings.Contains(e.Msg, "needs key (")):
		default:
			bad = append(bad, e.Error())
		}
	}
	return bad
}

// loadConverted writes a conversion's secrets into dir, adds the tunnel address strongSwan
// cannot name, and runs the TOML through config.Parse.
func loadConverted(t *testing.T, res *Result, dir string) (*config.Config, error) {
	t.Helper()
	for _, s := range res.Secrets {
		if err := os.WriteFile(filepath.Join(dir, s.Name), s.Data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := strings.Replace(string(res.TOML), "\n[device]\n", "\n[device]\naddresses = [\"192.0.2.1/32\"]\n", 1)
	return config.Parse(filepath.Join(dir, "site.toml"), []byte(text), dir)
}

// certDir copies a swanctl.conf into a fresh directory with a CA, the side's certificate
// and its key in swanctl's layout (x509ca/, x509/, private/).
func certDir(t *testing.T, conf, side string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"x509ca", "x509", "private"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel, typ string, der []byte) {
		t.Helper()
		b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"interop-test"}, CommonName: "interop test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write("x509ca/ca.crt", "CERTIFICATE", caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"interop-test"}, CommonName: side + ".test"},
		DNSNames: []string{side + ".test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write("x509/"+side+".crt", "CERTIFICATE", leafDER)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write("private/"+side+".key", "PRIVATE KEY", keyDER)
	if err := os.WriteFile(filepath.Join(dir, "swanctl.conf"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "swanctl.conf")
}

// TestConvertedConfigLoads converts every sample and runs the result through oakley's own
// loader (config.Parse). IKEv1 PSK samples must load without any error; the others may fail
// only on what disallowedErrors accepts.
func TestConvertedConfigLoads(t *testing.T) {
	samples, _ := filepath.Glob("testdata/strongswan/*/*/swanctl.conf")
	more, _ := filepath.Glob("testdata/swanctl/*/swanctl.conf")
	stroke, _ := filepath.Glob("testdata/stroke/*/ipsec.conf")
	samples = append(append(samples, more...), stroke...)
	if len(samples) < 18 {
		t.Fatalf("only %d samples", len(samples))
	}
	for _, s := range samples {
		t.Run(s, func(t *testing.T) {
			in := s
			if strings.Contains(s, "-cert/") {
				in = certDir(t, s, filepath.Base(filepath.Dir(s)))
			}
			res := importFile(t, in, Options{LocalAddrs: func() []netip.Addr { return nil }})
			cfg, err := loadConverted(t, res, t.TempDir())
			strict := strings.Contains(s, "ikev1-") && strings.Contains(s, "-psk") || strings.Contains(s, "stroke/site/") || strings.Contains(s, "stroke/libreswan/")
			if err == nil {
				defer cfg.Wipe()
				if len(cfg.Connections) != res.Connections {
					t.Errorf("the loader sees %d connections, the importer wrote %d", len(cfg.Connections), res.Connections)
				}
				return
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("config.Parse: %v", err)
			}
			if strict {
				t.Errorf("config.Parse rejects the conversion of an IKEv1 PSK sample:\n%v\n%s", err, res.TOML)
				return
			}
			for _, e := range disallowedErrors(errs, res.Warnings, strings.Contains(string(res.TOML), "\neap = ")) {
				t.Errorf("config.Parse: %s", e)
			}
			t.Logf("accepted loader errors (features not in the loader yet):\n%v", err)
		})
	}
}

// TestConvertedConfigLoadsNegative: the loader check can fail. A missing PSK file and a
// mangled key are errors disallowedErrors does not accept.
func TestConvertedConfigLoadsNegative(t *testing.T) {
	res := importFile(t, "testdata/strongswan/ikev1-main-psk/left/swanctl.conf", Options{})
	dir := t.TempDir()
	cfg, err := loadConverted(t, res, dir)
	if err != nil {
		t.Fatalf("control: %v", err)
	}
	cfg.Wipe()
	os.Remove(filepath.Join(dir, res.Secrets[0].Name))
	_, err = config.Parse(filepath.Join(dir, "site.toml"), []byte(strings.Replace(string(res.TOML), "\n[device]\n", "\n[device]\naddresses = [\"192.0.2.1/32\"]\n", 1)), dir)
	var errs config.Errors
	if !errors.As(err, &errs) || len(disallowedErrors(errs, res.Warnings, false)) == 0 {
		t.Errorf("a missing psk_file was accepted: %v", err)
	}
	mangled := strings.Replace(string(res.TOML), "psk_file", "psk_flie", 1)
	_, err = config.Parse("x.toml", []byte(mangled), dir)
	if !errors.As(err, &errs) || len(disallowedErrors(errs, res.Warnings, false)) == 0 {
		t.Errorf("an unknown key was accepted: %v", err)
	}
}

// TestCertSubjectIsDefaultID: without an id, strongSwan identifies a certificate side by its
// subject; the conversion writes it as local_id, in the certificate's RDN order.
func TestCertSubjectIsDefaultID(t *testing.T) {
	in := certDir(t, "testdata/strongswan/ikev1-main-cert/left/swanctl.conf", "left")
	data, _ := os.ReadFile(in)
	noID := strings.Replace(string(data), "id = left.test", "", 1)
	if err := os.WriteFile(in, []byte(noID), 0o600); err != nil {
		t.Fatal(err)
	}
	res := importFile(t, in, Options{})
	if want := `local_id = "C=XX, O=interop-test, CN=left.test"`; !strings.Contains(string(res.TOML), want) {
		t.Errorf("want %s in:\n%s", want, res.TOML)
	}
	for _, k := range []string{"cert = ", "key = ", "cacerts = "} {
		if !strings.Contains(string(res.TOML), k) {
			t.Errorf("no %s in:\n%s", k, res.TOML)
		}
	}
	cfg, err := loadConverted(t, res, t.TempDir())
	if errs, ok := err.(config.Errors); ok && len(disallowedErrors(errs, res.Warnings, false)) == 0 {
		t.Logf("the loader refuses only what is not implemented yet: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	defer cfg.Wipe()
	if got := cfg.Connections[0].LocalID.Type; got != config.IDDN {
		t.Errorf("local_id type %v, want dn", got)
	}
}

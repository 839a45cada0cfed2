package swanimport

// Certificates and keys: oakley names its own certificate, private key and trust anchors per
// connection (cert, key, cacerts), strongSwan loads whole directories. These helpers find the
// files strongSwan would use and read a certificate's subject for the default identity.

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
)

// findKey picks the private key that belongs to a certificate among the files strongSwan
// loads keys from: the only one, or the one whose name (without extension) is the
// certificate's. It returns "" when it cannot tell.
func (c *converter) findKey(dirs []string, cert string) (string, string) {
	var keys []string
	for _, d := range dirs {
		keys = append(keys, c.listDir(d)...)
	}
	switch len(keys) {
	case 0:
		return "", fmt.Sprintf("no private key found in %s", strings.Join(dirs, ", "))
	case 1:
		return keys[0], ""
	}
	stem := strings.TrimSuffix(filepath.Base(cert), filepath.Ext(cert))
	var match []string
	for _, k := range keys {
		if strings.TrimSuffix(filepath.Base(k), filepath.Ext(k)) == stem {
			match = append(match, k)
		}
	}
	if len(match) == 1 {
		return match[0], ""
	}
	return "", fmt.Sprintf("%d private keys in %s and none is named like the certificate", len(keys), strings.Join(dirs, ", "))
}

// certSubject returns a certificate file's subject as an oakley DN identity ("C=CH, O=...,
// CN=..." in the certificate's order, which is how strongSwan prints and matches it).
func (c *converter) certSubject(path string) (string, error) {
	if c.fs == nil {
		return "", fmt.Errorf("no file system")
	}
	data, err := c.fs.ReadFile(path)
	if err != nil {
		return "", err
	}
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		der = blk.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", fmt.Errorf("not a certificate: %v", err)
	}
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil {
		return "", err
	}
	return formatDN(rdns)
}

var dnNames = map[string]string{
	"2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU",
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.9": "street",
	"2.5.4.12": "title", "2.5.4.17": "postalCode", "2.5.4.42": "G", "2.5.4.43": "I",
	"2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "1.2.840.113549.1.9.1": "E",
	"0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}

// formatDN writes RDNs in order, escaping what oakley's DN parser treats specially.
func formatDN(rdns pkix.RDNSequence) (string, error) {
	var parts []string
	for _, set := range rdns {
		var atv []string
		for _, a := range set {
			name, ok := dnNames[a.Type.String()]
			if !ok {
				name = a.Type.String()
			}
			v, ok := a.Value.(string)
			if !ok {
				return "", fmt.Errorf("attribute %s is not a string", name)
			}
			r := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `+`, `\+`, `"`, `\"`, `=`, `\=`)
			atv = append(atv, name+"="+r.Replace(v))
		}
		parts = append(parts, strings.Join(atv, "+"))
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("the subject is empty")
	}
	return strings.Join(parts, ", "), nil
}

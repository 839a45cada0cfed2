package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
)

// Bounds on what is read from disk: a certificate file holds a chain or a CA bundle, a key
// file one key; CRLs of large CAs run to megabytes.
const (
	maxCertFile = 1 << 20
	maxKeyFile  = 64 << 10
	maxCRLFile  = 32 << 20
	// maxCertsPerFile bounds a CA bundle or chain file.
	maxCertsPerFile = 256
)

// readFile reads at most limit bytes of a regular file. private asks for the permission
// check key files get (refused if group or other may read or write it).
func readFile(key, path string, limit int64, private bool) ([]byte, error) {
	fail := func(err error) error { return &FileError{Key: key, Path: path, Err: err} }
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail(errorf(ErrFile, "does not exist"))
	case errors.Is(err, fs.ErrPermission):
		return nil, fail(errorf(ErrFile, "cannot be read: permission denied"))
	case err != nil:
		return nil, fail(errorf(ErrFile, "cannot be read: %v", unwrapPathErr(err)))
	case !fi.Mode().IsRegular():
		return nil, fail(errorf(ErrFile, "is not a regular file"))
	}
	if private {
		if err := checkPrivate(fi); err != nil {
			return nil, fail(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fail(errorf(ErrFile, "cannot be read: %v", unwrapPathErr(err)))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fail(errorf(ErrFile, "cannot be read: %v", unwrapPathErr(err)))
	}
	if int64(len(data)) > limit {
		wipe(data)
		return nil, fail(errorf(ErrFile, "is larger than %d bytes", limit))
	}
	if len(data) == 0 {
		return nil, fail(errorf(ErrFile, "is empty"))
	}
	return data, nil
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkPrivate refuses a key file that group or other may read or write, with the wording
// config uses for psk_file. Windows has no such mode bits (Go synthesises them), so the check
// is skipped there.
func checkPrivate(fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	perm := fi.Mode().Perm()
	switch {
	case perm&0o044 != 0:
		return errorf(ErrFileMode, "is readable by group/other (mode %04o); chmod 600 it", perm)
	case perm&0o022 != 0:
		return errorf(ErrFileMode, "is writable by group/other (mode %04o); chmod 600 it", perm)
	}
	return nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// isPEM reports whether data looks like PEM rather than DER (DER starts with a SEQUENCE tag).
func isPEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}

// LoadCertificates reads the certificates in path: PEM with one or more CERTIFICATE blocks
// (text around the blocks is ignored), or DER (one certificate or several concatenated).
// They are returned in file order; for a `cert` file that is the end entity first, then its
// intermediates (NewCredentials checks and completes that order).
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	return loadCertificates("", path)
}

func loadCertificates(key, path string) ([]*x509.Certificate, error) {
	data, err := readFile(key, path, maxCertFile, false)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(data)
	if err != nil {
		return nil, &FileError{Key: key, Path: path, Err: err}
	}
	return certs, nil
}

// parseCertificates decodes PEM or DER certificate data.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !isPEM(data) {
		certs, err := x509.ParseCertificates(data)
		if err != nil {
			return nil, errorf(ErrFile, "is neither PEM nor a DER certificate (%v)", err)
		}
		if len(certs) == 0 {
			return nil, errorf(ErrFile, "holds no certificate")
		}
		if len(certs) > maxCertsPerFile {
			return nil, errorf(ErrFile, "holds more than %d certificates", maxCertsPerFile)
		}
		return certs, nil
	}
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE", "X509 CERTIFICATE":
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			wipe(block.Bytes)
			return nil, errorf(ErrFile, "PEM block %d is a private key; keep the key in its own file (key) and only certificates here", n)
		default:
			return nil, errorf(ErrFile, "PEM block %d is %q, not a CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errorf(ErrFile, "PEM block %d is not a valid certificate: %v", n, err)
		}
		if len(certs) == maxCertsPerFile {
			return nil, errorf(ErrFile, "holds more than %d certificates", maxCertsPerFile)
		}
		certs = append(certs, c)
	}
	if bytes.Contains(rest, []byte("-----BEGIN ")) {
		return nil, errorf(ErrFile, "PEM block %d is damaged (bad base64 or missing END line)", len(certs)+1)
	}
	if len(certs) == 0 {
		return nil, errorf(ErrFile, "holds no CERTIFICATE block")
	}
	return certs, nil
}

// LoadPrivateKey reads a private key: PEM ("PRIVATE KEY" PKCS#8, "RSA PRIVATE KEY" PKCS#1,
// "EC PRIVATE KEY" SEC1; an "EC PARAMETERS" block before it is skipped) or the same three
// forms in DER. RSA (at least 1024 bits; CheckFiles warns below 2048), ECDSA on P-256, P-384
// or P-521, and Ed25519 keys are accepted. The file is refused if group or other may read or
// write it (not checked on Windows). Encrypted keys are refused: oakley has no passphrase
// prompt. The bytes read are wiped after parsing; messages never quote them.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	return loadPrivateKey("", path)
}

func loadPrivateKey(key, path string) (crypto.Signer, error) {
	data, err := readFile(key, path, maxKeyFile, true)
	if err != nil {
		return nil, err
	}
	defer wipe(data)
	s, err := parsePrivateKey(data)
	if err != nil {
		return nil, &FileError{Key: key, Path: path, Err: err}
	}
	return s, nil
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	if !isPEM(data) {
		k, err := parseKeyDER(data, "")
		if err != nil {
			return nil, errorf(ErrFile, "is neither PEM nor a DER private key (PKCS#8, PKCS#1 or SEC1)")
		}
		return checkSigner(k)
	}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errorf(ErrFile, "holds no private key PEM block")
		}
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "ENCRYPTED PRIVATE KEY":
			return nil, errorf(ErrFile, "holds an encrypted key; store it unencrypted (openssl pkey -in KEY -out KEY.new) with mode 600")
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		default:
			return nil, errorf(ErrFile, "PEM block %q is not a private key", block.Type)
		}
		defer wipe(block.Bytes)
		if _, ok := block.Headers["DEK-Info"]; ok {
			return nil, errorf(ErrFile, "holds an encrypted key (DEK-Info); store it unencrypted with mode 600")
		}
		k, err := parseKeyDER(block.Bytes, block.Type)
		if err != nil {
			return nil, errorf(ErrFile, "%s block does not parse: %v", block.Type, err)
		}
		return checkSigner(k)
	}
}

// parseKeyDER tries the form the PEM type names, or all three for DER.
func parseKeyDER(der []byte, pemType string) (any, error) {
	switch pemType {
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(der)
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("unknown key format")
}

// checkSigner accepts the key types IKE can sign with.
func checkSigner(k any) (crypto.Signer, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, errorf(ErrUnsupportedKey, "RSA key of %d bits is too short (at least 2048 recommended)", k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if _, err := curveName(k.Curve); err != nil {
			return nil, err
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, errorf(ErrUnsupportedKey, "%T keys are not supported (want RSA, ECDSA P-256/384/521 or Ed25519)", k)
}

// curveName names the NIST curves IKE uses (RFC 4754) and refuses the rest.
func curveName(c elliptic.Curve) (string, error) {
	switch c {
	case elliptic.P256():
		return "P-256", nil
	case elliptic.P384():
		return "P-384", nil
	case elliptic.P521():
		return "P-521", nil
	}
	name := "unknown"
	if c != nil && c.Params() != nil {
		name = c.Params().Name
	}
	return "", errorf(ErrUnsupportedKey, "ECDSA curve %s is not supported (want P-256, P-384 or P-521)", name)
}

// KeyDescription names a public key for messages: "RSA-3072", "ECDSA P-256", "Ed25519".
func KeyDescription(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		n, err := curveName(k.Curve)
		if err != nil {
			return "ECDSA (unsupported curve)"
		}
		return "ECDSA " + n
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

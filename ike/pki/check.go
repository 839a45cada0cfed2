package pki

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"time"
)

// CheckFiles validates the certificate files of one connection for `oakley check`, at time
// now. Each problem names its configuration key and file and says why. errs are fatal:
// unreadable, not PEM/DER, a private key file that group/other may read or write, an
// encrypted or unsupported key, a certificate outside its validity period (with the dates),
// a cacert that is not a CA, a key that does not match its certificate, an end entity
// without digitalSignature, an unparsable CRL or one past its nextUpdate, a CRL that names a
// CA of cacerts but whose signature does not verify. warnings do not stop the daemon: our
// own certificate does not verify against the given cacerts (the peer may trust it through
// another CA), a certificate expires within 30 days, an RSA key below 2048 bits, a CRL that
// no configured CA issued (it can only be applied if the peer sends that CA).
// Empty names are skipped.
func CheckFiles(cert, key string, cacerts, crls []string, remoteCert string, now time.Time) (errs, warnings []error) {
	fileErr := func(k, p string, err error) error {
		var fe *FileError
		if errors.As(err, &fe) {
			return err
		}
		return &FileError{Key: k, Path: p, Err: err}
	}
	validity := func(k, p string, c *x509.Certificate) {
		if err := checkValidity(c, now); err != nil {
			errs = append(errs, fileErr(k, p, err))
		} else if left := c.NotAfter.Sub(now); left < warnExpiresDays*24*time.Hour {
			warnings = append(warnings, fileErr(k, p, certErr(ErrExpiresSoon, FormatDN(c.RawSubject), "expires on %s, in %d days", stamp(c.NotAfter), int(left.Hours()/24))))
		}
	}

	// cacerts
	var anchors []*x509.Certificate
	for _, p := range cacerts {
		certs, err := loadCertificates("cacerts", p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range certs {
			if !isCA(c) {
				errs = append(errs, fileErr("cacerts", p, certErr(ErrNotCA, FormatDN(c.RawSubject), "is not a CA (no basicConstraints cA=TRUE), so it cannot be a trust anchor; pin a peer certificate with remote_cert instead")))
				continue
			}
			validity("cacerts", p, c)
			anchors = append(anchors, c)
		}
	}

	// cert and key
	var chain []*x509.Certificate
	if cert != "" {
		certs, err := loadCertificates("cert", cert)
		if err != nil {
			errs = append(errs, err)
		} else {
			chain = certs
			for _, c := range certs {
				validity("cert", cert, c)
			}
			leaf := certs[0]
			if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
				errs = append(errs, fileErr("cert", cert, certErr(ErrKeyUsage, FormatDN(leaf.RawSubject), "keyUsage lacks digitalSignature; peers (strongSwan too) refuse it for IKE")))
			}
			if err := checkPublicKey(leaf.PublicKey); err != nil {
				errs = append(errs, fileErr("cert", cert, err))
			}
			if _, err := orderChain(certs); err != nil {
				errs = append(errs, fileErr("cert", cert, err))
			}
		}
	}
	if key != "" {
		signer, err := loadPrivateKey("key", key)
		switch {
		case err != nil:
			errs = append(errs, err)
		case chain != nil:
			if err := KeyMatchesCert(chain[0], signer); err != nil {
				errs = append(errs, fileErr("key", key, err))
			}
		}
		if k, ok := signer.(*rsa.PrivateKey); ok && k.N.BitLen() < 2048 {
			warnings = append(warnings, fileErr("key", key, errorf(ErrUnsupportedKey, "RSA key of %d bits; use at least 2048 (RFC 8247)", k.N.BitLen())))
		}
	}

	// remote_cert
	if remoteCert != "" {
		certs, err := loadCertificates("remote_cert", remoteCert)
		switch {
		case err != nil:
			errs = append(errs, err)
		case len(certs) != 1:
			errs = append(errs, fileErr("remote_cert", remoteCert, errorf(ErrFile, "holds %d certificates; remote_cert pins exactly one", len(certs))))
		default:
			validity("remote_cert", remoteCert, certs[0])
		}
	}

	// crls
	for _, p := range crls {
		crl, err := loadCRL("crls", p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		issuer := FormatDN(crl.RawIssuer)
		if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
			errs = append(errs, fileErr("crls", p, errorf(ErrCRLStale, "the CRL of %q expired on %s (nextUpdate); fetch a fresh one", issuer, stamp(crl.NextUpdate))))
		}
		named, verified := false, false
		for _, ca := range append(append([]*x509.Certificate(nil), anchors...), chainCAs(chain)...) {
			if dnEqualDER(crl.RawIssuer, ca.RawSubject) {
				named = true
				if crlIssuedBy(crl, ca) {
					verified = true
				}
			}
		}
		switch {
		case named && !verified:
			errs = append(errs, fileErr("crls", p, errorf(ErrBadSignature, "the CRL names %q as issuer, but its signature does not verify with that CA's key (or the CA lacks cRLSign)", issuer)))
		case !named:
			warnings = append(warnings, fileErr("crls", p, errorf(ErrUntrusted, "the CRL's issuer %q is not in cacerts; it is used only if a peer sends that CA", issuer)))
		}
	}

	// our own chain against our cacerts: a warning only
	if len(chain) > 0 && len(anchors) > 0 && len(errs) == 0 {
		t := &Trust{anchors: anchors, crls: newCRLSet(nil)}
		if _, err := t.Verify(chain, now); err != nil {
			warnings = append(warnings, fileErr("cert", cert, errorf(ErrUntrusted, "does not verify against the configured cacerts (fine if the peer trusts another CA): %s", trimPrefix(err))))
		}
	}
	return errs, warnings
}

// chainCAs returns the CA certificates of a chain file (its intermediates).
func chainCAs(chain []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range chain {
		if isCA(c) {
			out = append(out, c)
		}
	}
	return out
}

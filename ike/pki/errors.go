package pki

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Every error this package returns wraps one of them, so callers test
// outcomes with errors.Is; the wrapping error's message names the certificate (by subject),
// the file, or the identity concerned. No message ever contains key material.
var (
	// ErrExpired: a certificate is outside its validity period. Not-yet-valid certificates
	// also match ErrExpired (and, more precisely, ErrNotYetValid).
	ErrExpired = errors.New("pki: certificate expired")
	// ErrExpiresSoon: a warning from CheckFiles: a certificate expires within 30 days.
	ErrExpiresSoon = errors.New("pki: certificate expires soon")
	// ErrNotYetValid: a certificate's notBefore lies in the future.
	ErrNotYetValid = errors.New("pki: certificate not yet valid")
	// ErrUntrusted: no path from the certificate to a trust anchor, or it is not the
	// pinned remote_cert.
	ErrUntrusted = errors.New("pki: certificate not trusted")
	// ErrRevoked: a loaded CRL lists the certificate.
	ErrRevoked = errors.New("pki: certificate revoked")
	// ErrCRLStale: the CRL that covers a certificate is past its nextUpdate, so it can no
	// longer prove the certificate is not revoked.
	ErrCRLStale = errors.New("pki: CRL past its nextUpdate")
	// ErrNotCA: a certificate used as an issuer (or configured in cacerts) is not a CA.
	ErrNotCA = errors.New("pki: certificate is not a CA")
	// ErrPathLen: a CA's basicConstraints pathLenConstraint is exceeded.
	ErrPathLen = errors.New("pki: path length constraint exceeded")
	// ErrKeyUsage: an issuer lacks keyCertSign (or cRLSign for a CRL), or the end entity
	// lacks digitalSignature/nonRepudiation, in a keyUsage extension that is present.
	ErrKeyUsage = errors.New("pki: key usage does not allow this use")
	// ErrCriticalExtension: a certificate or CRL carries a critical extension this package
	// does not understand (RFC 5280 §4.2).
	ErrCriticalExtension = errors.New("pki: unhandled critical extension")
	// ErrKeyMismatch: a private key does not belong to a certificate.
	ErrKeyMismatch = errors.New("pki: key does not match certificate")
	// ErrIDMismatch: an identity is not bound to a certificate (RFC 4945 §3.1).
	ErrIDMismatch = errors.New("pki: identity not in certificate")
	// ErrBadSignature: a signature (AUTH, SIG, certificate or CRL) does not verify.
	ErrBadSignature = errors.New("pki: signature verification failed")
	// ErrUnsupportedKey: a key type, size or curve this package does not use for IKE.
	ErrUnsupportedKey = errors.New("pki: unsupported key")
	// ErrMethodMismatch: the negotiated authentication method needs another key type.
	ErrMethodMismatch = errors.New("pki: key does not fit the authentication method")
	// ErrUnsupportedAlgorithm: a signature algorithm or hash this package does not accept.
	ErrUnsupportedAlgorithm = errors.New("pki: unsupported signature algorithm")
	// ErrMalformed: received bytes (CERTREQ data, RFC 7427 blob, ID data) do not parse.
	ErrMalformed = errors.New("pki: malformed input")
	// ErrFile: a file could not be used (unreadable, too large, wrong format, mode).
	ErrFile = errors.New("pki: unusable file")
	// ErrFileMode: a private key file is readable or writable by group/other.
	ErrFileMode = errors.New("pki: key file permissions too open")
)

// CertError reports a problem with one certificate, named by its subject DN as this
// package prints it. It wraps one sentinel (Kind); ErrNotYetValid also matches ErrExpired.
// A CertError is immutable once returned and safe for concurrent use.
type CertError struct {
	Kind    error  // one of the sentinels above
	Subject string // the certificate's subject, printed with FormatDN
	Detail  string // why, e.g. "expired on 2024-01-02 00:00:00 UTC"
}

func (e *CertError) Error() string {
	return fmt.Sprintf("pki: certificate %q: %s", e.Subject, e.Detail)
}

// Unwrap returns the sentinel; a not-yet-valid certificate also unwraps to ErrExpired.
func (e *CertError) Unwrap() []error {
	if e.Kind == ErrNotYetValid {
		return []error{ErrNotYetValid, ErrExpired}
	}
	return []error{e.Kind}
}

// FileError reports a problem with one file: it names the configuration key (when known)
// and the path, and wraps the cause (ErrFile, ErrFileMode, or a certificate problem).
// A FileError is immutable once returned and safe for concurrent use.
type FileError struct {
	Key  string // configuration key ("cert", "key", "cacerts", "crls", "remote_cert"), or ""
	Path string
	Err  error
}

func (e *FileError) Error() string {
	msg := e.Err.Error()
	if len(msg) > 5 && msg[:5] == "pki: " {
		msg = msg[5:]
	}
	if e.Key == "" {
		return fmt.Sprintf("pki: %s: %s", e.Path, msg)
	}
	return fmt.Sprintf("pki: %s %s: %s", e.Key, e.Path, msg)
}

func (e *FileError) Unwrap() error { return e.Err }

// wrapErr is an error with its own message that still matches a sentinel.
type wrapErr struct {
	kind error
	msg  string
}

func (e *wrapErr) Error() string { return "pki: " + e.msg }
func (e *wrapErr) Unwrap() error { return e.kind }

// errorf builds an error that matches kind and reads "pki: " + the formatted message.
func errorf(kind error, format string, args ...any) error {
	return &wrapErr{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// certErr builds a CertError for c.
func certErr(kind error, subject, format string, args ...any) *CertError {
	return &CertError{Kind: kind, Subject: subject, Detail: fmt.Sprintf(format, args...)}
}

// stamp prints a time the way every message of this package does.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

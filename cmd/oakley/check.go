package main

// `oakley check` on certificate files: pki.CheckFiles for each connection that
// authenticates with certificates, each problem printed as file:line: (the configuration
// line that names the file) connection, key, file and why.

import (
	"errors"
	"fmt"
	"time"

	"oakley/config"
	"oakley/ike/pki"
)

// checkCertFiles returns the errors and warnings of every connection's certificate files,
// formatted for stderr.
func checkCertFiles(cfg *config.Config, now time.Time) (errs, warnings []string) {
	for _, c := range cfg.Connections {
		if c.Keying == "manual" || c.Auth == "psk" || c.Auth == "" {
			continue
		}
		e, w := pki.CheckFiles(c.Cert, c.Key, c.CACerts, c.CRLs, c.RemoteCert, now)
		for _, err := range e {
			errs = append(errs, certProblem(cfg, c, err, ""))
		}
		for _, err := range w {
			warnings = append(warnings, certProblem(cfg, c, err, "warning: "))
		}
	}
	return errs, warnings
}

// certProblem formats one finding as "file:line: [warning: ]connection NAME: message".
func certProblem(cfg *config.Config, c *config.Connection, err error, kind string) string {
	pos := cfg.File + ": "
	var fe *pki.FileError
	if errors.As(err, &fe) {
		if line := c.FileLines[fe.Path]; line > 0 {
			pos = fmt.Sprintf("%s:%d: ", cfg.File, line)
		}
	}
	return fmt.Sprintf("%s%sconnection %q: %v", pos, kind, c.Name, err)
}

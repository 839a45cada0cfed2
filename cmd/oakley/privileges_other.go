//go:build !linux

package main

import (
	"go.uber.org/zap"

	"oakley/config"
)

// dropPrivileges changes nothing outside Linux: [daemon] user draws a warning (config checks
// it only loosely there) and the daemon runs as it was started.
func dropPrivileges(d *daemon) error {
	if d.cfg.Daemon.User != "" {
		d.log.Warn("[daemon] user is honoured on Linux only; running as started", zap.String("user", d.cfg.Daemon.User))
	}
	return nil
}

func chownForUser(*config.Config, string) error { return nil }

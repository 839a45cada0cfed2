package main

import (
	"context"
	"errors"
	"net/netip"

	"oakley/config"
	"oakley/esp"
)

// ikeAvailable says whether this build carries the IKE engine.
const ikeAvailable = false

// ikeRuntime connects the IKE engine to the daemon. (The engine itself lives in oakley/ike.)
type ikeRuntime struct{}

func (d *daemon) startIKE(ctx context.Context) error {
	for _, c := range d.cfg.Connections {
		if c.Keying == "ike" {
			return errors.New("connection " + c.Name + ": keying = \"ike\" needs the IKE engine, which is not built into this version yet; use keying = \"manual\"")
		}
	}
	return nil
}

func (r *ikeRuntime) handle(msg []byte, from netip.AddrPort, local uint16) {}
func (r *ikeRuntime) acquire(p *esp.Policy)                                {}
func (r *ikeRuntime) stop()                                                {}
func (r *ikeRuntime) manages(conn string) bool                             { return false }
func (r *ikeRuntime) command(cmd, conn, child string) error                { return errors.New("no IKE") }
func (r *ikeRuntime) fillStatus(cs *connStatus)                            {}
func (r *ikeRuntime) counters() map[string]uint64                          { return nil }

// remoteNATTPort is where the peer receives ESP-in-UDP (and floated IKE).
func remoteNATTPort(cfg *config.Config, c *config.Connection) uint16 { return c.RemoteNATTPort }

package main

import (
	"context"

	"go.uber.org/zap"
)

// startNetstackServices starts the SOCKS5 proxy and the port forwards of [netstack].
func (d *daemon) startNetstackServices(ctx context.Context) error {
	if d.ns == nil {
		return nil
	}
	ns := d.cfg.Netstack
	if ns.SOCKS5 != "" {
		addr, err := d.ns.ServeSOCKS5(ctx, ns.SOCKS5)
		if err != nil {
			return err
		}
		d.log.Info("SOCKS5 proxy into the tunnel", zap.Stringer("listen", addr))
	}
	for _, f := range ns.Forward {
		addr, err := d.ns.Forward(ctx, f.Proto, f.Listen.String(), f.To.String())
		if err != nil {
			return err
		}
		d.log.Info("forward", zap.String("proto", f.Proto), zap.Stringer("listen", addr), zap.Stringer("to", f.To))
	}
	for _, f := range ns.Expose {
		addr, err := d.ns.Expose(ctx, f.Proto, f.Listen.String(), f.To.String())
		if err != nil {
			return err
		}
		d.log.Info("expose", zap.String("proto", f.Proto), zap.Stringer("listen", addr), zap.Stringer("to", f.To))
	}
	return nil
}

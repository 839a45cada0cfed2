package core

// Reconfiguration (`oakley reload`, SIGHUP): the new set of connections replaces the old
// one without disturbing what did not change. A connection whose configuration is equal to
// before keeps its IKE SA, its children and their SAs (and so its SPIs and traffic); a
// removed one is terminated with Deletes to its peer; a changed one is terminated and
// started anew from its new configuration; a new one is added and started per its
// start_action.

import (
	"fmt"
	"reflect"
	"time"
)

// ReloadResult says what a Reconfigure did, by connection name.
type ReloadResult struct {
	Added, Removed, Changed, Unchanged []string
}

// Reconfigure replaces the configured connections by conns. Every new connection is
// validated first; on an error nothing changes.
func (c *Core) Reconfigure(now time.Time, conns []*Connection) (ReloadResult, error) {
	c.Now = now
	var res ReloadResult
	seen := map[string]bool{}
	for _, conn := range conns {
		if err := validate(conn); err != nil {
			return res, err
		}
		p := c.Protocol(conn.Version)
		if p == nil {
			return res, fmt.Errorf("%w: connection %q: IKE version %d is not available", ErrConfig, conn.Name, conn.Version)
		}
		if err := p.Validate(conn); err != nil {
			return res, err
		}
		if seen[conn.Name] {
			return res, fmt.Errorf("%w: connection %q twice", ErrConfig, conn.Name)
		}
		seen[conn.Name] = true
	}
	reason := fmt.Errorf("%w: removed by reload", ErrDeleted)
	var next []*Conn
	byName := map[string]*Conn{}
	var start []*Conn
	for _, conn := range conns {
		old := c.byName[conn.Name]
		switch {
		case old != nil && reflect.DeepEqual(old.Cfg, conn):
			res.Unchanged = append(res.Unchanged, conn.Name)
			next = append(next, old)
			byName[conn.Name] = old
			continue
		case old != nil:
			res.Changed = append(res.Changed, conn.Name)
			c.removeConn(now, old, fmt.Errorf("%w: changed by reload", ErrDeleted))
		default:
			res.Added = append(res.Added, conn.Name)
		}
		cs := newConn(c, conn, c.Protocol(conn.Version))
		for _, ch := range cs.Children {
			if !cs.MultiPeer() { // several peers: an entry per peer (ra.go)
				c.DP.AddPolicy(ch.Policy)
			}
		}
		next = append(next, cs)
		byName[conn.Name] = cs
		start = append(start, cs)
	}
	for name, old := range c.byName {
		if !seen[name] {
			res.Removed = append(res.Removed, name)
			c.removeConn(now, old, reason)
		}
	}
	c.conns, c.byName = next, byName
	for _, cs := range start {
		c.startConn(now, cs)
	}
	return res, nil
}

// removeConn terminates a connection (Deletes to its peer), drops responder SAs still bound
// to it, and removes its policies.
func (c *Core) removeConn(now time.Time, cs *Conn, reason error) {
	cs.Terminate(now, reason)
	for _, sa := range c.AllSAs() {
		if sa.Base().Conn == cs && !sa.Base().Dead() {
			sa.Delete(now, true, reason)
		}
	}
	for _, ch := range cs.Children {
		c.DP.Unbind(ch.Policy)
		c.DP.RemovePolicy(ch.Policy)
	}
}

// RemoteAccess is a gateway's [[pool]]s and [[user]]s, as a reload gives them anew.
type RemoteAccess struct {
	Pools []*Pool
	Users []User
}

// ReconfigureAll is Reconfigure with the pools and users replaced too: every connection's
// pools must exist in ra; on an error nothing changes. A pool that stays (by name) keeps its
// leases and its per-identity memory, with its range, DNS servers and split networks
// updated: a client holding an address outside a shrunk range keeps it until its SA dies,
// and no new lease is handed out there. A removed pool hands out nothing more; its leases
// end with their SAs. Users take effect for the next login.
func (c *Core) ReconfigureAll(now time.Time, conns []*Connection, ra RemoteAccess) (ReloadResult, error) {
	names := map[string]bool{}
	for _, p := range ra.Pools {
		if names[p.Name] {
			return ReloadResult{}, fmt.Errorf("%w: pool %q twice", ErrConfig, p.Name)
		}
		names[p.Name] = true
	}
	for _, conn := range conns {
		for _, name := range conn.Pools {
			if !names[name] {
				return ReloadResult{}, fmt.Errorf("%w: connection %q names pool %q, which is not configured", ErrConfig, conn.Name, name)
			}
		}
	}
	for _, u := range ra.Users {
		for _, name := range u.Pools {
			if !names[name] {
				return ReloadResult{}, fmt.Errorf("%w: user %q names pool %q, which is not configured", ErrConfig, u.Name, name)
			}
		}
	}
	res, err := c.Reconfigure(now, conns)
	if err != nil {
		return res, err
	}
	next := map[string]*Pool{}
	for _, p := range ra.Pools {
		if old := c.pools[p.Name]; old != nil {
			old.update(p)
			next[p.Name] = old
		} else {
			next[p.Name] = p
		}
	}
	c.pools = next
	c.Cfg.Users = ra.Users
	return res, nil
}

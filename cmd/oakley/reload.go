package main

// `oakley reload` and SIGHUP: re-read the configuration file, refuse it whole if it has an
// error, and otherwise apply it without disturbing what did not change. IKE connections go
// through the engine's Reload (an unchanged one keeps its IKE SA, its child SAs and so its
// SPIs and traffic; a removed one is terminated with Deletes; a changed one is terminated
// and started anew); manually keyed connections are compared the same way here (an unchanged
// one keeps its SAs; a changed or removed one has its SAs retired and its policies removed;
// a new one is installed); the TUN's routes follow the children's remote_ts. What cannot
// change while the daemon runs (the [device] and [netstack] tables, [daemon] keys other than
// log_level, a first IKE connection or raw-ESP connection when the sockets for it were never
// opened, a first policy route) is left as it was and reported as needing a restart.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"oakley/config"
	"oakley/ike"
	"oakley/ike/core"
	"oakley/tun"
)

// reloadReport is what a reload did, by connection name, in the control response.
type reloadReport struct {
	Added         []string `json:"added"`
	Removed       []string `json:"removed"`
	Changed       []string `json:"changed"`
	Unchanged     []string `json:"unchanged"`
	RoutesAdded   []string `json:"routes_added,omitempty"`
	RoutesRemoved []string `json:"routes_removed,omitempty"`
	// NeedsRestart lists what the file changes but the running daemon left as it was.
	NeedsRestart []string `json:"needs_restart,omitempty"`
	// Errors lists what failed to apply; everything else was applied.
	Errors []string `json:"errors,omitempty"`
}

// reloadCounters count reloads for /metrics. Safe for concurrent use.
type reloadCounters struct {
	ok, failed atomic.Uint64
	lastOK     atomic.Int64 // Unix seconds of the last successful reload; 0 = none
	lastFailed atomic.Bool  // the last reload was refused or failed
}

// errReloadRefused wraps a configuration refused by reload (config.Errors inside).
var errReloadRefused = errors.New("configuration refused; nothing changed")

// reload re-reads the configuration file and applies it (see the top of this file). A file
// with errors changes nothing: the error wraps errReloadRefused and the config.Errors. Every
// outcome is logged. Safe for concurrent use (reloads run one at a time).
func (d *daemon) reload(why string) (*reloadReport, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	log := d.log.With(zap.String("trigger", why))
	if d.stopped {
		return nil, errors.New("the daemon is shutting down")
	}
	old := d.cfg // only reload writes d.cfg, under reloadMu
	log.Info("reload: reading the configuration", zap.String("config", old.File))
	next, err := config.Load(old.File)
	if err != nil {
		d.reloads.failed.Add(1)
		d.reloads.lastFailed.Store(true)
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				log.Error("reload: " + e.Error())
			}
			log.Error("reload: configuration refused; nothing changed", zap.Int("errors", len(errs)))
			return nil, fmt.Errorf("%w: %w", errReloadRefused, err)
		}
		log.Error("reload: configuration refused; nothing changed", zap.Error(err))
		return nil, fmt.Errorf("%w: %w", errReloadRefused, err)
	}
	for _, w := range next.Warnings {
		log.Warn("reload: " + w.String())
	}
	rep := &reloadReport{}
	d.keepStatic(old, next, rep)
	d.keepUnappliable(old, next, rep)
	d.measurePaths(next)

	// Check what can be checked before anything changes: IKE connections through the engine
	// (it validates them all first), manual ones by their local address.
	var conns []*ike.Connection
	for _, c := range next.Connections {
		if c.Keying != "ike" {
			continue
		}
		ic, err := d.ikeConnection(c)
		if err != nil {
			wipeNew(old, next)
			d.reloads.failed.Add(1)
			d.reloads.lastFailed.Store(true)
			log.Error("reload: configuration refused; nothing changed", zap.String("conn", c.Name), zap.Error(err))
			return nil, fmt.Errorf("%w: connection %s: %w", errReloadRefused, c.Name, err)
		}
		conns = append(conns, ic)
	}
	for _, c := range next.Connections {
		if c.Keying == "manual" {
			if _, err := localAddrFor(c.LocalIP, c.RemoteIP); err != nil {
				wipeNew(old, next)
				d.reloads.failed.Add(1)
				d.reloads.lastFailed.Store(true)
				log.Error("reload: configuration refused; nothing changed", zap.String("conn", c.Name), zap.Error(err))
				return nil, fmt.Errorf("%w: connection %s: %w", errReloadRefused, c.Name, err)
			}
		}
	}

	// The [[pool]]s and [[user]]s go to the engine with the connections.
	var ra core.Config
	if err := remoteAccessConfig(&ra, next); err != nil {
		wipeNew(old, next)
		d.reloads.failed.Add(1)
		d.reloads.lastFailed.Store(true)
		log.Error("reload: configuration refused; nothing changed", zap.Error(err))
		return nil, fmt.Errorf("%w: %w", errReloadRefused, err)
	}

	d.mu.Lock()
	var eres ike.ReloadResult
	if d.ike != nil {
		if eres, err = d.ike.engine.Reload(conns, core.RemoteAccess{Pools: ra.Pools, Users: ra.Users}); err != nil {
			d.mu.Unlock()
			wipeNew(old, next)
			d.reloads.failed.Add(1)
			d.reloads.lastFailed.Store(true)
			log.Error("reload: configuration refused by the IKE engine; nothing changed", zap.Error(err))
			return nil, fmt.Errorf("%w: %w", errReloadRefused, err)
		}
	}
	mres, children := d.applyManual(old, next, rep)
	carry := map[string]bool{}
	for _, n := range append(slices.Clone(eres.Unchanged), mres.Unchanged...) {
		carry[n] = true
	}
	d.swapConfig(old, next, carry, children)
	d.mu.Unlock()

	mergeResults(rep, eres, mres)
	d.applyRoutes(next, rep)
	if d.opts.level != nil && next.Daemon.LogLevel != old.Daemon.LogLevel {
		if lvl, err := zap.ParseAtomicLevel(next.Daemon.LogLevel); err == nil {
			d.opts.level.SetLevel(lvl.Level())
			log.Info("reload: log level changed", zap.String("log_level", next.Daemon.LogLevel))
		}
	}
	for _, n := range rep.NeedsRestart {
		log.Warn("reload: needs a restart; left as it was: " + n)
	}
	for _, e := range rep.Errors {
		log.Error("reload: " + e)
	}
	if len(rep.Errors) > 0 {
		d.reloads.failed.Add(1)
		d.reloads.lastFailed.Store(true)
	} else {
		d.reloads.ok.Add(1)
		d.reloads.lastOK.Store(time.Now().Unix())
		d.reloads.lastFailed.Store(false)
	}
	log.Info("reload: done", zap.Strings("added", rep.Added), zap.Strings("removed", rep.Removed),
		zap.Strings("changed", rep.Changed), zap.Strings("unchanged", rep.Unchanged),
		zap.Int("needs_restart", len(rep.NeedsRestart)), zap.Int("errors", len(rep.Errors)))
	return rep, nil
}

// daemonKeys name the [daemon] fields for "needs a restart"; reflect finds any other.
var daemonKeys = []struct {
	key string
	get func(config.Daemon) any
}{
	{"log_format", func(d config.Daemon) any { return d.LogFormat }},
	{"control_socket", func(d config.Daemon) any { return d.ControlSocket }},
	{"metrics", func(d config.Daemon) any { return d.Metrics }},
	{"ike_port", func(d config.Daemon) any { return d.IKEPort }},
	{"natt_port", func(d config.Daemon) any { return d.NATTPort }},
	{"insecure_algorithms", func(d config.Daemon) any { return d.InsecureAlgorithms }},
	{"udp_offload", func(d config.Daemon) any { return d.UDPOffload }},
	{"socket_buffer", func(d config.Daemon) any { return d.SocketBuffer }},
	{"workers", func(d config.Daemon) any { return d.Workers }},
	{"user", func(d config.Daemon) any { return d.User }},
	{"retransmit_timeout", func(d config.Daemon) any { return d.RetransmitTimeout }},
	{"retransmit_base", func(d config.Daemon) any { return d.RetransmitBase }},
	{"retransmit_tries", func(d config.Daemon) any { return d.RetransmitTries }},
}

// keepStatic gives next the [daemon] (but log_level), [device] and [netstack] tables of old,
// noting each difference as needing a restart.
func (d *daemon) keepStatic(old, next *config.Config, rep *reloadReport) {
	nd := next.Daemon
	nd.LogLevel = old.Daemon.LogLevel
	if !reflect.DeepEqual(nd, old.Daemon) {
		named := false
		for _, k := range daemonKeys {
			if !reflect.DeepEqual(k.get(nd), k.get(old.Daemon)) {
				rep.NeedsRestart = append(rep.NeedsRestart, "[daemon] "+k.key)
				named = true
			}
		}
		if !named {
			rep.NeedsRestart = append(rep.NeedsRestart, "[daemon]")
		}
	}
	level := next.Daemon.LogLevel
	next.Daemon = old.Daemon
	next.Daemon.LogLevel = level
	if !reflect.DeepEqual(next.Device, old.Device) {
		rep.NeedsRestart = append(rep.NeedsRestart, "[device]")
		next.Device = old.Device
	}
	if !reflect.DeepEqual(next.Netstack, old.Netstack) {
		rep.NeedsRestart = append(rep.NeedsRestart, "[netstack]")
		next.Netstack = old.Netstack
	}
	if d.tun != nil && next.Device.MTU == 0 {
		if mtu := d.deviceMTU(next); mtu < d.devMTU {
			rep.NeedsRestart = append(rep.NeedsRestart, fmt.Sprintf("device MTU %d for the new children (it stays %d; larger packets get ICMP too big)", mtu, d.devMTU))
		}
	}
}

// keepUnappliable handles connections the running daemon has no sockets for: an IKE
// connection when no IKE socket was opened (there was none at start), one with encap = "raw"
// or "auto" when no raw socket was. Such a connection keeps its previous version, or is left
// out when it is new, and needs a restart.
func (d *daemon) keepUnappliable(old, next *config.Config, rep *reloadReport) {
	prev := map[string]*config.Connection{}
	for _, c := range old.Connections {
		prev[c.Name] = c
	}
	kept := next.Connections[:0:0]
	for _, c := range next.Connections {
		var why string
		switch {
		case c.Keying == "ike" && d.ike == nil:
			why = "the first IKE connection (no IKE socket is open)"
		case needsRaw(c) && !d.hasRaw:
			why = fmt.Sprintf("encap = %q (no raw ESP/AH socket is open)", c.Encap)
		}
		if why == "" {
			kept = append(kept, c)
			continue
		}
		rep.NeedsRestart = append(rep.NeedsRestart, fmt.Sprintf("connection %s: %s", c.Name, why))
		wipeConnection(c)
		if p := prev[c.Name]; p != nil {
			kept = append(kept, p) // carried over unchanged by the comparisons below
		}
	}
	next.Connections = kept
}

// manualResult is what applyManual did, by connection name.
type manualResult struct{ Added, Removed, Changed, Unchanged []string }

// applyManual compares the manually keyed connections of old and next: an equal one keeps
// its runtime (and SAs), a changed or removed one has its SAs retired and its policies
// removed, a new or changed one is installed. It returns the children now in force. d.mu is
// held.
func (d *daemon) applyManual(old, next *config.Config, rep *reloadReport) (manualResult, []*childRuntime) {
	var res manualResult
	prev := map[string]*config.Connection{}
	for _, c := range old.Connections {
		if c.Keying == "manual" {
			prev[c.Name] = c
		}
	}
	byConn := map[*config.Connection][]*childRuntime{}
	for _, r := range d.children {
		byConn[r.conn] = append(byConn[r.conn], r)
	}
	seen := map[string]bool{}
	var install []*config.Connection
	var children []*childRuntime
	for _, c := range next.Connections {
		if c.Keying != "manual" {
			continue
		}
		seen[c.Name] = true
		p := prev[c.Name]
		switch {
		case p == c || p != nil && reflect.DeepEqual(*p, *c):
			res.Unchanged = append(res.Unchanged, c.Name)
			children = append(children, byConn[p]...)
			continue
		case p != nil:
			res.Changed = append(res.Changed, c.Name)
			d.retireManual(byConn[p])
		default:
			res.Added = append(res.Added, c.Name)
		}
		install = append(install, c)
	}
	for name, p := range prev {
		if !seen[name] {
			res.Removed = append(res.Removed, name)
			d.retireManual(byConn[p])
		}
	}
	for _, c := range install {
		for _, ch := range c.Children {
			r := d.newManualChild(c, ch)
			if err := d.installManual(r); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", r.name(), err))
				d.manualErrors[r.name()] = err.Error()
				d.retireManual([]*childRuntime{r})
				continue
			}
			delete(d.manualErrors, r.name())
			children = append(children, r)
		}
	}
	return res, children
}

// retireManual takes manual children out of service: no policy, no SAs (their keys are
// wiped by the data plane once no batch in flight uses them).
func (d *daemon) retireManual(rs []*childRuntime) {
	for _, r := range rs {
		d.dp.Unbind(r.policy)
		d.dp.RemovePolicy(r.policy)
		d.dp.Retire(r.in)
		d.dp.Retire(r.out)
		d.log.Info("manual SAs removed", zap.String("child", r.name()))
	}
}

// swapConfig puts next in force. A connection in carry (unchanged) keeps its old
// *config.Connection, which the engine or the data plane still uses, and the copy just read
// is wiped; the old versions of the others are wiped (a manual child's keys belong to its
// retired SAs, which wipe them). d.mu is held.
func (d *daemon) swapConfig(old, next *config.Config, carry map[string]bool, children []*childRuntime) {
	prev := map[string]*config.Connection{}
	for _, c := range old.Connections {
		prev[c.Name] = c
	}
	used := map[*config.Connection]bool{}
	for i, c := range next.Connections {
		if p := prev[c.Name]; p != nil && (p == c || carry[c.Name]) {
			if p != c {
				wipeConnection(c)
			}
			next.Connections[i] = p
			used[p] = true
		}
	}
	for _, p := range old.Connections {
		if !used[p] && p.Keying == "ike" {
			wipeConnection(p)
		}
	}
	if !reflect.DeepEqual(old.Users, next.Users) {
		d.retired = append(d.retired, old.Users...)
	} else {
		for _, u := range next.Users {
			u.Password.Wipe()
		}
		next.Users = old.Users
	}
	d.cfg, d.children = next, children
}

// wipeConnection wipes the secrets of a connection nobody uses.
func wipeConnection(c *config.Connection) {
	c.PSK.Wipe()
	c.Password.Wipe()
	if c.Keying != "manual" {
		return
	}
	for _, ch := range c.Children {
		ch.InKey.Wipe()
		ch.OutKey.Wipe()
		ch.InAuthKey.Wipe()
		ch.OutAuthKey.Wipe()
	}
}

// wipeNew wipes the secrets of a configuration that was read but not put in force, except
// those of connections it shares with old (carried over by keepUnappliable).
func wipeNew(old, next *config.Config) {
	for _, c := range next.Connections {
		if !slices.Contains(old.Connections, c) {
			wipeConnection(c)
		}
	}
	for _, u := range next.Users {
		u.Password.Wipe()
	}
}

// wipeSecrets wipes the configuration in force and what earlier ones left; call it after
// stop.
func (d *daemon) wipeSecrets() {
	cfg, _ := d.state()
	cfg.Wipe()
	for _, u := range d.retired {
		u.Password.Wipe()
	}
}

// mergeResults joins the engine's and the manual results by name: a connection that moved
// between keying = "ike" and "manual" is removed from one and added to the other, which is a
// change.
func mergeResults(rep *reloadReport, e ike.ReloadResult, m manualResult) {
	added := append(slices.Clone(e.Added), m.Added...)
	removed := append(slices.Clone(e.Removed), m.Removed...)
	changed := append(slices.Clone(e.Changed), m.Changed...)
	for _, n := range slices.Clone(added) {
		if slices.Contains(removed, n) {
			added = slices.DeleteFunc(added, func(x string) bool { return x == n })
			removed = slices.DeleteFunc(removed, func(x string) bool { return x == n })
			changed = append(changed, n)
		}
	}
	rep.Added, rep.Removed, rep.Changed = sorted(added), sorted(removed), sorted(changed)
	rep.Unchanged = sorted(append(slices.Clone(e.Unchanged), m.Unchanged...))
}

func sorted(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	sort.Strings(xs)
	return xs
}

// applyRoutes makes the TUN's routes follow the children of cfg (device.routes = true).
func (d *daemon) applyRoutes(cfg *config.Config, rep *reloadReport) {
	if d.tun == nil || !cfg.Device.Routes {
		return
	}
	plain, policy := d.routes(cfg)
	res, err := d.tun.UpdateRoutes(plain, policy)
	rep.RoutesAdded, rep.RoutesRemoved = res.Added, res.Removed
	if err == nil {
		return
	}
	for _, e := range splitJoined(err) {
		switch {
		case errors.Is(e, tun.ErrNoPolicyTable):
			rep.NeedsRestart = append(rep.NeedsRestart, "routes: "+e.Error())
		case errors.Is(e, tun.ErrRoutesNotLive):
			rep.NeedsRestart = append(rep.NeedsRestart, "routes: "+e.Error())
		default:
			rep.Errors = append(rep.Errors, e.Error())
		}
	}
}

// splitJoined returns the errors inside an errors.Join, or err itself.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

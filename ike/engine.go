package ike

// The Engine: the daemon's handle on the IKE core and its protocols. Run is its event loop,
// the only goroutine that touches protocol state; the other methods hand it work.

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev1"
	"oakley/ike/ikev2"
)

// The configuration and status types are the core's.
type (
	Connection  = core.Connection
	Child       = core.Child
	Identity    = core.Identity
	IDType      = core.IDType
	Dataplane   = core.Dataplane
	Retransmit  = core.Retransmit
	ConnStatus  = core.ConnStatus
	IKESAStatus = core.IKESAStatus
	Traffic     = core.Traffic
	ChildStatus = core.ChildStatus
	CertInfo    = core.CertInfo
)

// Identity constructors and types, for the daemon.
var (
	AnyIdentity      = core.AnyIdentity
	AddrIdentity     = core.AddrIdentity
	FQDNIdentity     = core.FQDNIdentity
	UserFQDNIdentity = core.UserFQDNIdentity
	DNIdentity       = core.DNIdentity
	KeyIDIdentity    = core.KeyIDIdentity
)

// Sentinel errors (errors.Is works with the core's and the protocols').
var (
	ErrNoProposalChosen     = core.ErrNoProposalChosen
	ErrAuthenticationFailed = core.ErrAuthenticationFailed
	ErrInvalidID            = core.ErrInvalidID
	ErrMalformed            = core.ErrMalformed
	ErrTimeout              = core.ErrTimeout
	ErrPeerNotify           = core.ErrPeerNotify
	ErrUnknownConnection    = core.ErrUnknownConnection
	ErrUnknownChild         = core.ErrUnknownChild
	ErrNotRunning           = core.ErrNotRunning
	ErrConfig               = core.ErrConfig
	ErrDeleted              = core.ErrDeleted
	ErrInstall              = core.ErrInstall
)

// EventSource is where data-plane events come from (*esp.Dataplane): lifetime limits, the
// first use of a new SA, acquires. They travel on their own path, never through the inbox
// that network input can fill (esp/events.go).
type EventSource interface {
	Wake() <-chan struct{}
	TakeEvents() esp.Events
}

// Config configures an Engine. Read by New only.
type Config struct {
	core.Config
	// Events delivers data-plane events; nil = Dataplane, if it is an EventSource.
	Events EventSource
	Now    func() time.Time // nil = time.Now
}

// The inbox between the data plane and Run is bounded twice, by datagrams and by the bytes
// they hold; a full inbox drops (counted) instead of blocking the data plane. Only network
// input travels through it. 4,096 datagrams take a burst such as 1,000 peers each deleting
// an ISAKMP SA and its pair at once (1,024 overflowed there); the byte bound keeps a flood
// of large datagrams to 4 MiB.
const (
	inboxSize  = 4096
	inboxBytes = 4 << 20
	// inboxBatch is how many queued datagrams Run handles before it looks at timers and
	// sends again: a burst drains in fewer rounds, and the answers leave in larger batches.
	inboxBatch = 64
)

type message struct {
	msg         []byte
	from, local netip.AddrPort
}

// Engine runs IKE for a set of connections. Its methods are safe for concurrent use; all
// of them but HandleMessage and Counters need Run to be running.
type Engine struct {
	core    *core.Core
	ctr     *core.Counters
	events  EventSource
	now     func() time.Time
	log     *zap.Logger
	inbox   chan message
	queued  atomic.Int64 // bytes of the datagrams in the inbox
	cmds    chan func(now time.Time)
	done    chan struct{}
	runOnce sync.Once
}

// New checks the configuration and returns an engine running IKEv1 and IKEv2; Run starts it.
func New(cfg Config) (*Engine, error) {
	ctr := core.NewCounters()
	c, err := core.New(cfg.Config, ctr, ikev1.New(), ikev2.New())
	if err != nil {
		return nil, err
	}
	e := &Engine{
		core: c, ctr: ctr, events: cfg.Events, now: cfg.Now, log: c.Log,
		inbox: make(chan message, inboxSize), cmds: make(chan func(time.Time), 16),
		done: make(chan struct{}),
	}
	if e.events == nil {
		e.events, _ = cfg.Dataplane.(EventSource)
	}
	if e.now == nil {
		e.now = time.Now
	}
	for _, conn := range cfg.Connections {
		if conn.InsecureAlgorithms {
			c.Log.Warn("insecure algorithms enabled: DES, MD5, MODP 768/1024/1536 and an Aggressive Mode PSK responder are allowed", zap.String("conn", conn.Name))
		}
		if conn.Aggressive {
			c.Log.Warn("Aggressive Mode with a pre-shared key sends a hash of the key in the clear (offline dictionary attack); prefer Main Mode", zap.String("conn", conn.Name))
		}
	}
	return e, nil
}

// Core gives tests access to the core (not for concurrent use while Run runs).
func (e *Engine) Core() *core.Core { return e.core }

// Run is the event loop. It applies every start_action, then handles messages, data-plane
// events, timers and requests until ctx is done, and returns after tearing everything down
// (Deletes sent, SAs retired). Run may be called once.
func (e *Engine) Run(ctx context.Context) {
	first := false
	e.runOnce.Do(func() { first = true })
	if !first {
		return
	}
	defer close(e.done)
	c := e.core
	c.Start(e.now())
	c.Flush()
	var wakeEvents <-chan struct{}
	if e.events != nil {
		wakeEvents = e.events.Wake()
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := e.now()
		c.FireTimers(now)
		c.Flush()
		var wake <-chan time.Time
		if next, ok := c.Timers.Next(); ok {
			t.Reset(max(next.Sub(e.now()), 0))
			wake = t.C
		}
		select {
		case <-ctx.Done():
			c.Shutdown(e.now())
			c.Flush()
			e.log.Info("IKE engine stopped")
			return
		case <-wakeEvents:
			c.HandleEvents(e.now(), e.events.TakeEvents())
		case m := <-e.inbox:
			e.handleInbox(m)
		case f := <-e.cmds:
			f(e.now())
		case <-wake:
		}
		t.Stop()
		c.Flush()
	}
}

// HandleMessage takes an IKE message from the data plane (OnIKE: the non-ESP marker
// removed; local is our address and the port it arrived on). It copies msg and never
// blocks: a full inbox (inboxSize datagrams or inboxBytes bytes) drops and counts.
func (e *Engine) HandleMessage(msg []byte, from, local netip.AddrPort) {
	n := int64(len(msg))
	if e.queued.Add(n) > inboxBytes {
		e.queued.Add(-n)
		e.ctr.Inc(core.CtrInboxFull)
		return
	}
	select {
	case e.inbox <- message{msg: append([]byte(nil), msg...), from: from, local: local}:
	default:
		e.queued.Add(-n)
		e.ctr.Inc(core.CtrInboxFull)
	}
}

// handleInbox hands m and up to inboxBatch-1 more queued datagrams to the core.
func (e *Engine) handleInbox(m message) {
	for i := 0; ; i++ {
		e.queued.Add(-int64(len(m.msg)))
		e.core.HandleDatagram(e.now(), m.msg, m.from, m.local)
		if i == inboxBatch-1 {
			return
		}
		select {
		case m = <-e.inbox:
		default:
			return
		}
	}
}

// do runs f in the Run goroutine and waits for it.
func (e *Engine) do(f func(now time.Time)) error {
	finished := make(chan struct{})
	select {
	case e.cmds <- func(now time.Time) { f(now); close(finished) }:
	case <-e.done:
		return ErrNotRunning
	}
	select {
	case <-finished:
		return nil
	case <-e.done:
		return ErrNotRunning
	}
}

// units returns the units of a connection's configured child (all units for child "").
func units(cs *core.Conn, conn, child string) ([]*core.ChildState, error) {
	if child == "" {
		return cs.Children, nil
	}
	u := cs.ChildUnits(child)
	if len(u) == 0 {
		if ch := cs.Child(child); ch != nil {
			u = []*core.ChildState{ch}
		}
	}
	if len(u) == 0 {
		return nil, fmt.Errorf("%w %q in connection %q", ErrUnknownChild, child, conn)
	}
	return u, nil
}

// Initiate brings a connection's child up (child "" = all children, or the IKE SA alone
// for a connection without children) and waits until it is established or failed.
func (e *Engine) Initiate(conn, child string) error {
	var (
		done <-chan error
		err  error
	)
	if derr := e.do(func(now time.Time) {
		var cs *core.Conn
		if cs, err = e.core.Conn(conn); err != nil {
			return
		}
		if !cs.Cfg.CanInitiate() {
			err = fmt.Errorf("%w: connection %q has no remote address (respond only)", ErrConfig, conn)
			return
		}
		var children []*core.ChildState
		if children, err = units(cs, conn, child); err != nil {
			return
		}
		var todo []*core.ChildState
		for _, ch := range children {
			if ch.Newest() == nil {
				todo = append(todo, ch)
			} else {
				ch.Want = true
			}
		}
		cs.SetPersistent()
		if len(todo) == 0 && len(children) > 0 {
			return
		}
		done = cs.AddWaiter(todo)
		cs.BringUp(now, todo)
	}); derr != nil {
		return derr
	}
	if err != nil || done == nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-e.done:
		return ErrNotRunning
	}
}

// Terminate deletes every SA of a connection, sending Deletes for the child SAs and the IKE
// SA, and stops re-initiating it.
func (e *Engine) Terminate(conn string) error {
	var err error
	if derr := e.do(func(now time.Time) {
		var cs *core.Conn
		if cs, err = e.core.Conn(conn); err == nil {
			cs.Terminate(now, fmt.Errorf("%w: terminated", ErrDeleted))
		}
	}); derr != nil {
		return derr
	}
	return err
}

// Rekey starts a rekey: of a child (child != ""), or of the IKE SA (IKEv1: a
// re-authentication, a new Main/Aggressive Mode; the children move over). It returns once
// the exchange has started.
func (e *Engine) Rekey(conn, child string) error {
	var err error
	if derr := e.do(func(now time.Time) {
		var cs *core.Conn
		if cs, err = e.core.Conn(conn); err != nil {
			return
		}
		if child == "" {
			sa := cs.Current()
			if sa == nil {
				err = fmt.Errorf("%w: connection %q has no IKE SA to rekey", ErrDeleted, conn)
				return
			}
			if !cs.Cfg.CanInitiate() && cs.Cfg.Version == 1 {
				err = fmt.Errorf("%w: connection %q has no remote address to re-authenticate with", ErrConfig, conn)
				return
			}
			sa.Rekey(now)
			return
		}
		var children []*core.ChildState
		if children, err = units(cs, conn, child); err != nil {
			return
		}
		for _, ch := range children {
			if ch.Pending != nil {
				continue
			}
			if n := ch.Newest(); n != nil {
				if sa := cs.Current(); sa != nil {
					sa.StartChild(now, ch, n)
				}
				continue
			}
			if !cs.Cfg.CanInitiate() {
				err = fmt.Errorf("%w: child %q is not up and connection %q cannot initiate", ErrDeleted, child, conn)
				return
			}
			cs.BringUp(now, []*core.ChildState{ch})
		}
	}); derr != nil {
		return derr
	}
	return err
}

// Status returns the state of every connection (nil when Run is not running).
func (e *Engine) Status() []ConnStatus {
	var out []ConnStatus
	if err := e.do(func(time.Time) { out = e.core.Status() }); err != nil {
		return nil
	}
	return out
}

// Counters returns a snapshot of the engine's counters. Safe at any time.
func (e *Engine) Counters() map[string]uint64 { return e.ctr.Snapshot() }

// Policies returns every SPD entry the engine made, for status and the daemon (not for
// concurrent use with Run; call before Run or from Status-like commands).
func (e *Engine) Policies() []*esp.Policy {
	var out []*esp.Policy
	for _, cs := range e.core.Conns() {
		for _, ch := range cs.Children {
			out = append(out, ch.Policy)
		}
	}
	return out
}

// ReloadResult says what a Reload did, by connection name.
type ReloadResult = core.ReloadResult

// Reload replaces the engine's connections (oakley reload): unchanged ones keep their SAs,
// removed ones are terminated with Deletes, changed ones are renegotiated, new ones start
// per their start_action. On a validation error nothing changes.
// Pools and users are replaced by ra's (core.ReconfigureAll).
func (e *Engine) Reload(conns []*Connection, ra core.RemoteAccess) (ReloadResult, error) {
	var (
		res ReloadResult
		err error
	)
	if derr := e.do(func(now time.Time) { res, err = e.core.ReconfigureAll(now, conns, ra) }); derr != nil {
		return res, derr
	}
	return res, err
}

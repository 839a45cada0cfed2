package ike

// The Engine: the daemon's handle on the IKEv1 core. Run is its event loop, the only
// goroutine that touches protocol state; the other methods enqueue work for it.

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"oakley/esp"
)

// inboxSize bounds the queue between the data plane and Run; a full inbox drops
// (counted) instead of blocking the data plane.
const inboxSize = 1024

type eventKind uint8

const (
	evMessage eventKind = iota + 1
	evAcquire
	evSoftExpire
)

type event struct {
	kind   eventKind
	msg    []byte
	from   netip.AddrPort
	port   uint16
	policy *esp.Policy
	spi    uint32
}

// Engine runs IKEv1 for a set of connections. Its methods are safe for concurrent use;
// all of them but HandleMessage, Acquire and Counters need Run to be running.
type Engine struct {
	core    *core
	ctr     *counters
	now     func() time.Time
	log     *zap.Logger
	inbox   chan event
	cmds    chan func(now time.Time)
	done    chan struct{}
	runOnce sync.Once
	ran     chan struct{}
}

// New checks the configuration and returns an engine; Run starts it.
func New(cfg Config) (*Engine, error) {
	ctr := newCounters()
	c, err := newCore(cfg, ctr)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		core: c, ctr: ctr, now: cfg.Now, log: c.log,
		inbox: make(chan event, inboxSize), cmds: make(chan func(time.Time), 16),
		done: make(chan struct{}), ran: make(chan struct{}),
	}
	if e.now == nil {
		e.now = time.Now
	}
	c.softExpireHook = func(spi uint32) { e.enqueue(event{kind: evSoftExpire, spi: spi}) }
	for _, conn := range cfg.Connections {
		if conn.InsecureAlgorithms {
			c.log.Warn("insecure algorithms enabled: DES, MD5, MODP 768/1024/1536 and an Aggressive Mode PSK responder are allowed", zap.String("conn", conn.Name))
		}
		for _, ch := range conn.Children {
			if len(ch.LocalTS) > 1 || len(ch.RemoteTS) > 1 {
				c.log.Warn("an IKEv1 Quick Mode carries one selector pair: only the first local and remote selectors are negotiated",
					zap.String("conn", conn.Name), zap.String("child", ch.Name))
			}
		}
		if conn.Aggressive {
			c.log.Warn("Aggressive Mode with a pre-shared key sends a hash of the key in the clear (offline dictionary attack); prefer Main Mode", zap.String("conn", conn.Name))
		}
	}
	return e, nil
}

// Run is the event loop. It applies every start_action, then handles messages, timers
// and requests until ctx is done, and returns after tearing everything down (Deletes sent,
// SAs removed, keys wiped). Run may be called once.
func (e *Engine) Run(ctx context.Context) {
	first := false
	e.runOnce.Do(func() { first = true })
	if !first {
		return
	}
	close(e.ran)
	defer close(e.done)
	c := e.core
	c.start(e.now())
	c.flush()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := e.now()
		c.fireTimers(now)
		c.flush()
		var wake <-chan time.Time
		if next, ok := c.timers.next(); ok {
			t.Reset(max(next.Sub(e.now()), 0))
			wake = t.C
		}
		select {
		case <-ctx.Done():
			c.shutdown(e.now())
			c.flush()
			e.log.Info("IKE engine stopped")
			return
		case ev := <-e.inbox:
			e.handle(ev)
		case f := <-e.cmds:
			f(e.now())
		case <-wake:
		}
		t.Stop()
		c.flush()
	}
}

func (e *Engine) handle(ev event) {
	now := e.now()
	switch ev.kind {
	case evMessage:
		e.core.handleDatagram(now, ev.msg, ev.from, ev.port)
	case evAcquire:
		e.core.acquire(now, ev.policy)
	case evSoftExpire:
		e.core.softExpire(now, ev.spi)
	}
}

func (e *Engine) enqueue(ev event) {
	select {
	case e.inbox <- ev:
	default:
		e.ctr.inc(cInboxFull)
	}
}

// HandleMessage takes an IKE message from the data plane (OnIKE: the non-ESP marker
// removed; localPort is the port it arrived on). It copies msg and never blocks.
func (e *Engine) HandleMessage(msg []byte, from netip.AddrPort, localPort uint16) {
	e.enqueue(event{kind: evMessage, msg: append([]byte(nil), msg...), from: from, port: localPort})
}

// Acquire reports traffic on a policy without an SA (OnAcquire; start_action = trap, or
// after dpd_action = hold). It never blocks.
func (e *Engine) Acquire(p *esp.Policy) {
	e.enqueue(event{kind: evAcquire, policy: p})
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

// Initiate brings a connection's child up (child "" = all children, or Phase 1 alone
// for a connection without children) and waits until it is established or failed.
func (e *Engine) Initiate(conn, child string) error {
	var (
		w   *waiter
		err error
	)
	if derr := e.do(func(now time.Time) {
		var cs *connState
		if cs, err = e.core.conn(conn); err != nil {
			return
		}
		if !cs.cfg.RemoteAddr.IsValid() {
			err = fmt.Errorf("%w: connection %q has no remote address (respond only)", ErrConfig, conn)
			return
		}
		var children []*childState
		if child == "" {
			children = cs.children
		} else if ch := cs.child(child); ch != nil {
			children = []*childState{ch}
		} else {
			err = fmt.Errorf("%w %q in connection %q", ErrUnknownChild, child, conn)
			return
		}
		var todo []*childState
		for _, ch := range children {
			if ch.newest() == nil {
				todo = append(todo, ch)
			} else {
				ch.want = true
			}
		}
		cs.persistent = true
		if len(todo) == 0 && len(children) > 0 {
			return
		}
		w = cs.addWaiter(todo)
		cs.bringUp(now, todo)
	}); derr != nil {
		return derr
	}
	if err != nil || w == nil {
		return err
	}
	select {
	case err := <-w.done:
		return err
	case <-e.done:
		return ErrNotRunning
	}
}

// Terminate deletes every SA of a connection, sending Deletes for the child SAs and the
// ISAKMP SA, and stops re-initiating it.
func (e *Engine) Terminate(conn string) error {
	var err error
	if derr := e.do(func(now time.Time) {
		var cs *connState
		if cs, err = e.core.conn(conn); err == nil {
			cs.terminate(now, fmt.Errorf("%w: terminated", ErrDeleted))
		}
	}); derr != nil {
		return derr
	}
	return err
}

// Rekey starts a rekey: a new Quick Mode for a child, or, with child "", a
// re-authentication of the ISAKMP SA (a new Main/Aggressive Mode; the children move over).
// It returns once the exchange has started.
func (e *Engine) Rekey(conn, child string) error {
	var err error
	if derr := e.do(func(now time.Time) {
		var cs *connState
		if cs, err = e.core.conn(conn); err != nil {
			return
		}
		if child == "" {
			sa := cs.current()
			if sa == nil {
				err = fmt.Errorf("%w: connection %q has no ISAKMP SA to re-authenticate", ErrDeleted, conn)
				return
			}
			if !cs.cfg.RemoteAddr.IsValid() {
				err = fmt.Errorf("%w: connection %q has no remote address to re-authenticate with", ErrConfig, conn)
				return
			}
			e.ctr.inc(cIKEReauths)
			cs.reauth(now, sa)
			return
		}
		ch := cs.child(child)
		if ch == nil {
			err = fmt.Errorf("%w %q in connection %q", ErrUnknownChild, child, conn)
			return
		}
		if ch.qm != nil {
			return
		}
		if n := ch.newest(); n != nil {
			n.softExpired(now)
			return
		}
		if !cs.cfg.RemoteAddr.IsValid() {
			err = fmt.Errorf("%w: child %q is not up and connection %q cannot initiate", ErrDeleted, child, conn)
			return
		}
		cs.bringUp(now, []*childState{ch})
	}); derr != nil {
		return derr
	}
	return err
}

// Status returns the state of every connection (nil when Run is not running).
func (e *Engine) Status() []ConnStatus {
	var out []ConnStatus
	if err := e.do(func(time.Time) { out = e.core.status() }); err != nil {
		return nil
	}
	return out
}

// Counters returns a snapshot of the engine's counters. Safe at any time.
func (e *Engine) Counters() map[string]uint64 { return e.ctr.snapshot() }

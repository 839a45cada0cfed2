package ikev2

// The TLS side of EAP-TLS: crypto/tls drives a net.Conn in its own goroutine, and the IKE
// SA (which must not block on the network) steps it in lockstep: step hands the goroutine
// the TLS data of one EAP-TLS message and waits until it wants more input (or is done),
// returning what it wrote meanwhile. The goroutine only ever blocks on the pipe, so a step
// ends as soon as the TLS computation does; close ends it at any point.

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"oakley/crypto"
)

// tlsStep is what the TLS goroutine reports when it stops: its output, and at the end the
// MSK or why the handshake failed.
type tlsStep struct {
	out  []byte
	done bool
	msk  crypto.Key
	err  error
}

// tlsEngine runs one EAP-TLS handshake. step and close are called by the goroutine that
// drives the IKE SA, never concurrently; in and out belong to whichever side is running
// (the channels hand them over), so nothing is locked.
type tlsEngine struct {
	feed   chan []byte
	yield  chan tlsStep
	closed chan struct{}
	exited chan struct{}
	once   sync.Once

	// Owned by the TLS goroutine (and by step while the goroutine waits).
	in  []byte
	out []byte

	started, finished bool
}

// newTLSEngine prepares run (the handshake and MSK derivation on a tls.Conn over the pipe);
// the first step starts it.
func newTLSEngine() *tlsEngine {
	return &tlsEngine{feed: make(chan []byte), yield: make(chan tlsStep), closed: make(chan struct{}), exited: make(chan struct{})}
}

// step gives the goroutine input (nil for the first step) and returns its next report.
func (e *tlsEngine) step(run func(net.Conn) (crypto.Key, error), input []byte) tlsStep {
	if e.finished {
		return tlsStep{done: true, err: errors.New("the TLS handshake is over")}
	}
	if !e.started {
		e.started = true
		go e.run(run)
	} else {
		select {
		case e.feed <- input:
		case <-e.exited:
			e.finished = true
			return tlsStep{done: true, err: errors.New("the TLS handshake ended")}
		}
	}
	s := <-e.yield
	if s.done {
		e.finished = true
	}
	return s
}

func (e *tlsEngine) run(run func(net.Conn) (crypto.Key, error)) {
	defer close(e.exited)
	msk, err := run(pipeConn{e})
	s := tlsStep{out: e.takeOut(), done: true, msk: msk, err: err}
	select {
	case e.yield <- s:
	case <-e.closed:
		msk.Wipe()
	}
}

func (e *tlsEngine) takeOut() []byte {
	o := e.out
	e.out = nil
	return o
}

// close ends the goroutine and waits for it (it is never blocked anywhere else).
func (e *tlsEngine) close() {
	if e == nil {
		return
	}
	e.once.Do(func() { close(e.closed) })
	if e.started {
		<-e.exited
	}
}

// pipeConn is the net.Conn crypto/tls reads and writes.
type pipeConn struct{ e *tlsEngine }

func (c pipeConn) Read(b []byte) (int, error) {
	e := c.e
	for len(e.in) == 0 {
		select {
		case e.yield <- tlsStep{out: e.takeOut()}:
		case <-e.closed:
			return 0, net.ErrClosed
		}
		select {
		case in := <-e.feed:
			e.in = in
		case <-e.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(b, e.in)
	e.in = e.in[n:]
	return n, nil
}

func (c pipeConn) Write(b []byte) (int, error) {
	select {
	case <-c.e.closed:
		return 0, net.ErrClosed
	default:
	}
	if len(c.e.out)+len(b) > eapTLSMaxMessage {
		return 0, errEAPTLSOverflow
	}
	c.e.out = append(c.e.out, b...)
	return len(b), nil
}

func (pipeConn) Close() error                     { return nil }
func (pipeConn) LocalAddr() net.Addr              { return eapAddr{} }
func (pipeConn) RemoteAddr() net.Addr             { return eapAddr{} }
func (pipeConn) SetDeadline(time.Time) error      { return nil }
func (pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (pipeConn) SetWriteDeadline(time.Time) error { return nil }

type eapAddr struct{}

func (eapAddr) Network() string { return "eap" }
func (eapAddr) String() string  { return "eap-tls" }

// MSK labels (RFC 5216 §2.3, RFC 9190 §2.3).
const (
	eapTLSLabel12 = "client EAP encryption"
	eapTLSLabel13 = "EXPORTER_EAP_TLS_Key_Material"
	eapMSKLen     = 64
)

// eapTLSMSK derives the MSK of a finished handshake: TLS 1.2 PRF(master secret, "client EAP
// encryption", client.random || server.random), the first 64 of its octets (Go's exporter
// without context computes exactly that; it needs the extended master secret); TLS 1.3 the
// exporter "EXPORTER_EAP_TLS_Key_Material" with context 0x0D, the first 64 of 128 octets.
func eapTLSMSK(st tls.ConnectionState) (crypto.Key, error) {
	var k []byte
	var err error
	switch st.Version {
	case tls.VersionTLS12:
		k, err = st.ExportKeyingMaterial(eapTLSLabel12, nil, eapMSKLen)
	case tls.VersionTLS13:
		k, err = st.ExportKeyingMaterial(eapTLSLabel13, []byte{eapTypeTLS}, 2*eapMSKLen)
	default:
		return nil, errors.New("TLS version below 1.2 negotiated")
	}
	if err != nil {
		return nil, err
	}
	msk := crypto.Key(append([]byte(nil), k[:eapMSKLen]...))
	crypto.Wipe(k)
	return msk, nil
}

// runTLSClient is the client's handshake. With TLS 1.3 it then waits for the server's
// protected success indication, one octet 0x00 of application data (RFC 9190 §2.1.1).
func runTLSClient(cfg *tls.Config, version *uint16) func(net.Conn) (crypto.Key, error) {
	return func(c net.Conn) (crypto.Key, error) {
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(context.Background()); err != nil {
			return nil, err
		}
		st := tc.ConnectionState()
		*version = st.Version
		if st.Version == tls.VersionTLS13 {
			var b [2]byte
			n, err := tc.Read(b[:])
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = errors.New("TLS closed instead of the success indication")
				}
				return nil, err
			}
			if n != 1 || b[0] != 0 {
				return nil, errors.New("TLS 1.3 application data other than the success indication 0x00")
			}
		}
		return eapTLSMSK(st)
	}
}

// runTLSServer is the gateway's handshake; with TLS 1.3 it commits with the protected
// success indication.
func runTLSServer(cfg *tls.Config, version *uint16) func(net.Conn) (crypto.Key, error) {
	return func(c net.Conn) (crypto.Key, error) {
		tc := tls.Server(c, cfg)
		if err := tc.HandshakeContext(context.Background()); err != nil {
			return nil, err
		}
		st := tc.ConnectionState()
		*version = st.Version
		if st.Version == tls.VersionTLS13 {
			if _, err := tc.Write([]byte{0}); err != nil {
				return nil, err
			}
		}
		return eapTLSMSK(st)
	}
}

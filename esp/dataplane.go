package esp

// The data plane: packets between the tunnel device and the network.
//
// Concurrency contract:
//   - Outbound (pipeline_out.go): one goroutine reads batches from the device, classifies
//     each packet against the SPD, groups it by SA, writes ESP headers and trailers and
//     assigns sequence numbers serially per SA, in read order. With worker goroutines
//     (Options.Workers > 1) the sealing is split into jobs across them, several batches in
//     flight at once, and a sender goroutine sends the batches in read order once each is
//     sealed; with one worker the reader seals and sends itself. Packet order per SA is the
//     read order either way, and sequence numbers leave in increasing order.
//   - Inbound (pipeline_in.go): per receive function (UDP IPv4, UDP IPv6, raw sockets) a
//     receiver goroutine reads a batch, hands IKE messages to the key manager, finds SAs and
//     runs the replay pre-check serially; the opening runs on the workers (or inline in the
//     writer); a writer goroutine, in receive order, updates the replay windows (verified
//     packets only), checks the inner packets against the SAs' selectors and writes them to
//     the device.
//   - Batches travel as flights (workers.go) from a fixed set per pipeline: when all are in
//     flight, the first stage waits, so nothing is dropped inside the data plane and memory
//     is bounded. Sealing and opening never serialize on one goroutine or one lock: jobs of
//     one SA and of different SAs run on all workers at once (an SA's replay mutex is taken
//     only by the serial stages).
//   - Key managers install and retire SAs concurrently (Install, Bind, Retire: lifecycle.go)
//     through the SAD and SPD, both of which are copy-on-write, so the hot paths take no lock
//     but an SA's own replay mutex. Every flight carries an epoch counter that is odd from its
//     first stage's start to its last stage's end, so a retired SA's keys are wiped only after
//     the batches that could still hold it have ended.
//   - Lifetime events and acquires reach the key manager through the event queue (events.go),
//     never through a queue that network input can fill.
// No per-packet allocation and no per-packet channel operation happens on either path (the
// channel operations are per flight and per job).

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/conn"
)

// Device is the packet device of the tunnel: the batch interface of golang.zx2c4.com/
// wireguard/tun.Device, which the TUN and netstack devices implement.
type Device interface {
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	Write(bufs [][]byte, offset int) (int, error)
	BatchSize() int
}

// tunOffset is where packets start in buffers handed to Device.Write (≥ the virtio-net
// header wireguard's TUN writes in front of each packet).
const tunOffset = 16

// Options configure a Dataplane.
type Options struct {
	Device   Device
	NATT     conn.Bind // ESP-in-UDP and IKE on the NAT-T port (RFC 3948)
	IKE      conn.Bind // IKE on its own port (nil = none)
	NATTPort uint16
	IKEPort  uint16
	Raw      bool // also carry ESP/AH as IP protocols 50/51 (needs privileges)
	// FwMark marks every socket of the data plane (SO_MARK, Linux), so policy routing can send
	// oakley's own packets past routes that lead into the tunnel device.
	FwMark uint32
	// Workers is how many goroutines seal and open; 1 runs the crypto inline in the
	// pipelines' own goroutines; 0 = automatic: inline on machines with two CPUs or fewer
	// (the tunnel's two ends, the kernel and the applications already compete for them:
	// measured with iperf3 between two namespaces on 2 CPUs, splitting CBC batches across 2
	// workers gave 0.75-0.78 Gbit/s against 0.93-1.00 inline, and 0.52-0.57 against 0.89-0.97
	// with 4 streams), one per CPU otherwise.
	Workers int
	Log     *zap.Logger

	// OnIKE receives every IKE message (non-ESP marker already removed). The slice is only
	// valid during the call. local is our address (when the socket reports it) and the port
	// the message arrived on. It must not block.
	OnIKE func(msg []byte, from, local netip.AddrPort)
	// ICMPSource4/6 are the addresses ICMP "packet too big" errors come from; when invalid
	// (the daemon's choice) they come from the packet's destination. Never the device's own
	// address: Linux drops a packet arriving with a local source as martian, and gVisor's
	// netstack drops packets from its own addresses.
	ICMPSource4, ICMPSource6 netip.Addr
}

// Counters of the data plane as a whole (per-SA counters live in each SA's Stats).
type Counters struct {
	DevRx, DevTx    atomic.Uint64 // packets read from / written to the device
	NetRx, NetTx    atomic.Uint64 // datagrams received / sent
	NetRxBytes      atomic.Uint64
	NetTxBytes      atomic.Uint64
	IKERx           atomic.Uint64
	Keepalives      atomic.Uint64
	NoPolicy        atomic.Uint64 // device packets no policy covers
	NoSA            atomic.Uint64 // covered, but no SA installed yet
	Discarded       atomic.Uint64 // policy action discard
	TooBig          atomic.Uint64 // answered with ICMP packet-too-big
	MSSClamped      atomic.Uint64
	Malformed       atomic.Uint64 // unparseable device packets or datagrams
	UnknownSPI      atomic.Uint64
	SendErrors      atomic.Uint64
	DevWriteErrors  atomic.Uint64
	DevReadErrors   atomic.Uint64
	TooManySegments atomic.Uint64
	Quiesced        atomic.Uint64 // packets dropped because the data plane is shutting down
	Oversized       atomic.Uint64 // ESP datagrams larger than the receive buffers (peer's MTU above ours)
	ParallelBatches atomic.Uint64
	BatchesOut      atomic.Uint64
	BatchesIn       atomic.Uint64
	lastLog         [8]atomic.Int64 // logLimited's per-slot timestamps
}

// Dataplane moves packets between a Device and the network through ESP/AH SAs.
type Dataplane struct {
	opts Options
	log  *zap.Logger
	SAD  SAD
	SPD  SPD
	Stat Counters

	raw      *rawSockets
	pool     *workerPool
	outRoom  int // largest packet the outbound buffers take from the device
	inRoom   int // largest datagram the inbound buffers take (UDP with an Oversize hook)
	wg       sync.WaitGroup
	closing  atomic.Bool
	quiesced atomic.Bool
	recvNATT []conn.ReceiveFunc
	recvIKE  []conn.ReceiveFunc
	life     lifecycle
	events   *eventQueue
}

// New opens the sockets and returns a data plane; Start runs it.
func New(opts Options) (*Dataplane, error) {
	if opts.Device == nil || opts.NATT == nil {
		return nil, errors.New("esp: data plane needs a device and a NAT-T socket")
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
		if opts.Workers <= 2 {
			opts.Workers = 1
		}
	}
	d := &Dataplane{opts: opts, log: opts.Log, events: newEventQueue()}
	d.sizeBuffers()
	for _, x := range []struct {
		b    conn.Bind
		kind srcKind
	}{{opts.NATT, srcNATT}, {opts.IKE, srcIKE}} {
		if ob, ok := x.b.(oversizeBind); ok {
			kind := x.kind
			ob.SetOversize(func(p []byte, ep conn.Endpoint) { d.oversize(p, ep, kind) })
		}
	}
	var err error
	var port uint16
	if d.recvNATT, port, err = opts.NATT.Open(opts.NATTPort); err != nil {
		return nil, fmt.Errorf("esp: NAT-T port %d: %w", opts.NATTPort, err)
	}
	d.opts.NATTPort = port
	if opts.IKE != nil {
		if d.recvIKE, port, err = opts.IKE.Open(opts.IKEPort); err != nil {
			opts.NATT.Close()
			return nil, fmt.Errorf("esp: IKE port %d: %w", opts.IKEPort, err)
		}
		d.opts.IKEPort = port
	}
	if opts.Raw {
		if d.raw, err = openRaw(); err != nil {
			d.closeSockets()
			return nil, err
		}
	}
	if opts.FwMark != 0 {
		for _, b := range []conn.Bind{opts.NATT, opts.IKE} {
			if b == nil {
				continue
			}
			if err := b.SetMark(opts.FwMark); err != nil {
				d.closeSockets()
				return nil, fmt.Errorf("esp: marking sockets with fwmark %#x: %w", opts.FwMark, err)
			}
		}
		if d.raw != nil {
			if err := d.raw.setMark(opts.FwMark); err != nil {
				d.closeSockets()
				return nil, err
			}
		}
	}
	d.pool = newWorkerPool(opts.Workers)
	// Every packet the data plane writes to the device passed an ESP or AH integrity check
	// (ESP SAs always have one: crypto.NewCipher refuses encryption without integrity), or
	// is an ICMP error it built itself; a device that can skip verifying TCP/UDP checksums
	// for such packets may (tun.TUN.TrustChecksums).
	if t, ok := opts.Device.(interface{ TrustChecksums() }); ok {
		t.TrustChecksums()
	}
	return d, nil
}

// Ports returns the ports actually bound (useful when 0 asked for a random one).
func (d *Dataplane) Ports() (ike, natt uint16) { return d.opts.IKEPort, d.opts.NATTPort }

// Start launches the outbound and inbound goroutines.
func (d *Dataplane) Start() {
	d.startOutbound()
	for _, fn := range d.recvNATT {
		d.startInbound(fn, srcNATT, d.opts.NATTPort, d.opts.NATT)
	}
	for _, fn := range d.recvIKE {
		d.startInbound(fn, srcIKE, d.opts.IKEPort, d.opts.IKE)
	}
	if d.raw != nil {
		for _, r := range d.raw.receivers() {
			d.startInbound(r.fn, r.kind, 0, nil)
		}
	}
}

// Flights per pipeline: enough to keep every worker busy with one flight being filled and
// one being finished; inline, one outbound (the reader does everything) and a few inbound
// (the receiver keeps draining the socket while the writer works).
func (d *Dataplane) flights(inbound bool) int {
	switch {
	case !d.pool.inline():
		return min(d.pool.n+2, 16)
	case inbound:
		return 4
	}
	return 1
}

func (d *Dataplane) startOutbound() {
	k := d.flights(false)
	bs := max(d.opts.Device.BatchSize(), 1)
	free := make(chan *outFlight, k)
	for range k {
		free <- &outFlight{flight: newFlight(d.life.newSlot()), outState: newOutState(bs, Headroom+d.outRoom+Tailroom)}
	}
	var queue chan *outFlight
	if !d.pool.inline() {
		queue = make(chan *outFlight, k)
		d.wg.Add(1)
		go d.runSender(free, queue)
	}
	d.wg.Add(1)
	go d.runOutbound(free, queue)
}

func (d *Dataplane) startInbound(fn conn.ReceiveFunc, kind srcKind, port uint16, bind conn.Bind) {
	in := &inbound{recv: fn, kind: kind, port: port, head: Headroom}
	if kind == srcAH6 {
		in.head += 40 // AH over IPv6 arrives without its header; room to rebuild it in front
	}
	bs, room := rawBatch, rawRoom
	if bind != nil {
		bs, room = max(bind.BatchSize(), 1), 65535
		if _, ok := bind.(oversizeBind); ok {
			room = d.inRoom
		}
	}
	k := d.flights(true)
	in.free, in.queue = make(chan *inFlight, k), make(chan *inFlight, k)
	for range k {
		in.free <- &inFlight{flight: newFlight(d.life.newSlot()), inState: newInState(bs, in.head, in.head+room+Tailroom)}
	}
	d.wg.Add(2)
	go d.runReceiver(in)
	go d.runWriter(in)
}

// rawRoom is the largest IP datagram the raw sockets' buffers take (jumbo frames).
const rawRoom = 9216

// oversizeBind is a conn.Bind that hands datagrams larger than the receive buffers to a hook
// instead of cutting them (UDPBind): the data plane then gives it buffers for one packet
// of the tunnel's size, not 64 KB each.
type oversizeBind interface {
	SetOversize(func(dgram []byte, ep conn.Endpoint))
}

// sizeBuffers sizes the packet buffers from the device's MTU: outbound, the device gives
// at most one MTU per packet; inbound, ESP adds at most a few hundred bytes to it.
func (d *Dataplane) sizeBuffers() {
	mtu := 1500
	if m, ok := d.opts.Device.(interface{ MTU() (int, error) }); ok {
		if v, err := m.MTU(); err == nil && v > 0 {
			mtu = max(v, 1280)
		}
	}
	d.outRoom = max(mtu, 1500)
	d.inRoom = max(mtu, 1500) + 512
}

// Close stops the data plane: it closes the sockets, waits for the inbound goroutines and,
// once the owner has closed the device, for the outbound one. SAs are left to their owner.
func (d *Dataplane) Close() {
	if !d.closing.CompareAndSwap(false, true) {
		return
	}
	d.closeSockets()
}

// Quiesce stops carrying traffic (device packets and ESP/AH are dropped and counted) while
// the sockets stay open for the key manager's last messages (Deletes at shutdown).
func (d *Dataplane) Quiesce() { d.quiesced.Store(true) }

// Wait blocks until every goroutine has exited (after Close and the device's Close); then
// the keys of every retired SA are wiped.
func (d *Dataplane) Wait() {
	d.wg.Wait()
	d.pool.close()
	d.life.stop()
}

func (d *Dataplane) closeSockets() {
	d.opts.NATT.Close()
	if d.opts.IKE != nil {
		d.opts.IKE.Close()
	}
	if d.raw != nil {
		d.raw.close()
	}
}

// srcEndpointer is implemented by binds that can send from a chosen local address.
type srcEndpointer interface {
	EndpointFrom(dst netip.AddrPort, src netip.Addr) conn.Endpoint
}

// endpoint returns the endpoint to reach a peer from local (invalid: the kernel chooses).
// The data plane keeps no table of endpoints: the key manager knows which local address each
// peer talks to (the one its messages arrive on) and says so, so nothing an unauthenticated
// datagram carries is stored here.
func (d *Dataplane) endpoint(peer netip.AddrPort, local netip.Addr) (conn.Endpoint, error) {
	if s, ok := d.opts.NATT.(srcEndpointer); ok {
		return s.EndpointFrom(peer, local), nil
	}
	return d.opts.NATT.ParseEndpoint(peer.String())
}

// SendIKE sends an IKE message to a peer from local (invalid: the kernel chooses): on the
// NAT-T port with the non-ESP marker (RFC 3948 §2.2), or on the IKE port as it is.
func (d *Dataplane) SendIKE(msg []byte, local netip.Addr, to netip.AddrPort, natt bool) error {
	ep, err := d.endpoint(to, local)
	if err != nil {
		return err
	}
	bind := d.opts.NATT
	buf := msg
	if natt {
		buf = make([]byte, NonESPMarkerLen+len(msg))
		copy(buf[NonESPMarkerLen:], msg)
	} else if d.opts.IKE != nil {
		bind = d.opts.IKE
	}
	if err := bind.Send([][]byte{buf}, ep); err != nil {
		d.Stat.SendErrors.Add(1)
		return fmt.Errorf("esp: sending IKE to %s: %w", to, err)
	}
	d.Stat.NetTx.Add(1)
	return nil
}

// SendKeepalive sends a NAT-keepalive to a peer's NAT-T port (RFC 3948 §2.3).
func (d *Dataplane) SendKeepalive(local netip.Addr, to netip.AddrPort) error {
	ep, err := d.endpoint(to, local)
	if err != nil {
		return err
	}
	return d.opts.NATT.Send([][]byte{{0xff}}, ep)
}

// NewBinding binds an outbound SA to a peer for Policy.SetOutbound (manual keying and
// tests; the key manager uses Bind).
func (d *Dataplane) NewBinding(sa *SA, peer netip.AddrPort, encap Encap, mtu int) (*Binding, error) {
	return d.newBinding(sa, peer, netip.Addr{}, encap, mtu)
}

// bindingSerial numbers bindings.
var bindingSerial atomic.Uint64

func (d *Dataplane) newBinding(sa *SA, peer netip.AddrPort, local netip.Addr, encap Encap, mtu int) (*Binding, error) {
	o := &Binding{SA: sa, Peer: peer, Encap: encap, MTU: mtu, local: local, serial: bindingSerial.Add(1)}
	if encap == EncapUDP {
		ep, err := d.endpoint(peer, local)
		if err != nil {
			return nil, err
		}
		o.ep = ep
	} else if d.raw == nil {
		return nil, errors.New("esp: raw encapsulation needs raw sockets (privileges); use encap = \"udp\"")
	}
	return o, nil
}

// logLimited logs at most once every 10 s per slot.
func (d *Dataplane) logLimited(slot int, msg string, fields ...zap.Field) {
	now := time.Now().UnixNano()
	last := d.Stat.lastLog[slot].Load()
	if now-last < int64(10*time.Second) || !d.Stat.lastLog[slot].CompareAndSwap(last, now) {
		return
	}
	d.log.Warn(msg, fields...)
}

const (
	logSlotUnknownSPI = iota
	logSlotSend
	logSlotDevWrite
	logSlotDevRead
	logSlotNoPolicy
	logSlotMalformed
)

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// AllocSPI reserves a fresh inbound SPI.
func (d *Dataplane) AllocSPI(rand io.Reader) (uint32, error) { return d.SAD.AllocSPI(rand) }

// ReleaseSPI returns a reserved SPI that will not be installed.
func (d *Dataplane) ReleaseSPI(spi uint32) { d.SAD.Release(spi) }

// AddPolicy appends a policy to the SPD (the key manager's side of it).
func (d *Dataplane) AddPolicy(p *Policy) { d.SPD.Add(p) }

// RemovePolicy removes a policy from the SPD.
func (d *Dataplane) RemovePolicy(p *Policy) { d.SPD.Remove(p) }

package tun

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkTUNWrite writes one TCP stream into a socket through a real TUN device, in batches
// of 46 segments of 1380 bytes (one 64 KB super-packet's worth), through wireguard-go's writer
// and through ours (checksums verified, and trusted). The figure includes the kernel's work
// for each write and the receiving socket, which a reader goroutine drains. Needs root: the
// device lives in a network namespace the benchmark creates for itself (a locked thread
// unshares it; the namespace goes away with the thread and the descriptors).
func BenchmarkTUNWrite(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipping: a TUN device in a private network namespace needs root")
	}
	env := make(chan *writeBenchEnv)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread (and its namespace) dies with us
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		e, err := newWriteBenchEnv(b)
		if err != nil {
			errc <- err
			return
		}
		env <- e
		<-e.done
	}()
	var e *writeBenchEnv
	select {
	case e = <-env:
	case err := <-errc:
		b.Fatal(err)
	}
	defer close(e.done)
	defer e.dev.Close()
	defer e.conn.Close()
	gw := e.dev.writer.(*groWriter)
	for _, mode := range []string{"wireguard", "coalescing", "coalescing-trusted"} {
		b.Run(mode, func(b *testing.B) {
			gw.trust.Store(mode == "coalescing-trusted")
			write := e.dev.Write
			if mode == "wireguard" {
				write = e.dev.Device.Write
			}
			got := make(chan int64)
			want := int64(b.N) * 46 * 1380
			var read atomic.Int64
			progress := make(chan struct{}, 1)
			go func() {
				buf := make([]byte, 256<<10)
				var n int64
				for n < want {
					e.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
					k, err := e.conn.Read(buf[:min(int64(len(buf)), want-n)])
					n += int64(k)
					read.Store(n)
					select {
					case progress <- struct{}{}:
					default:
					}
					if err != nil {
						break
					}
				}
				got <- n
			}()
			b.SetBytes(46 * 1380)
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				// Stay within the receiver's window (nobody processes its ACKs here).
				for int64(i)*46*1380-read.Load() > 1<<20 {
					<-progress
				}
				e.fill()
				if _, err := write(e.bufs, MinOffset); err != nil {
					b.Fatal(err)
				}
			}
			if n := <-got; n != want {
				b.Fatalf("the socket received %d of %d bytes", n, want)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*46), "ns/packet")
			// CPU time of the whole process (the writes, the kernel's receive path run in
			// their system calls, the reading socket): steadier than wall time on a busy
			// machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*46), "cpu-ns/packet")
		})
	}
}

type writeBenchEnv struct {
	dev   *TUN
	conn  *net.TCPConn
	c     *tcpClient
	bufs  [][]byte
	tmpl  []byte // one segment: headers and payload
	psum  uint64 // running sum of the payload
	done  chan struct{}
	reads <-chan batch
}

func newWriteBenchEnv(b *testing.B) (*writeBenchEnv, error) {
	dev, err := Open(Options{Name: "okbench", MTU: 1420, Addresses: []netip.Prefix{tunAddr4}, Routes: []netip.Prefix{tunRoute4}, Offload: true}, nil)
	if err != nil {
		return nil, err
	}
	if _, ok := dev.writer.(*groWriter); !ok {
		dev.Close()
		return nil, os.ErrNotExist
	}
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(tunAddr4.Addr(), 0)))
	if err != nil {
		dev.Close()
		return nil, err
	}
	defer ln.Close()
	e := &writeBenchEnv{dev: dev, done: make(chan struct{}), reads: startReader(dev)}
	local := netip.MustParseAddrPort(ln.Addr().String())
	e.c = &tcpClient{t: b, dev: dev, src: netip.AddrPortFrom(remote4, 40000), dst: local, seq: 1000, id: 1}
	e.c.write(e.c.segment(0x02, nil))
	deadline := time.After(5 * time.Second)
	for e.c.ack == 0 {
		select {
		case bt := <-e.reads:
			for _, p := range bt.pkts {
				if isTCPFrom(p, local, 0x12) {
					e.c.ack = binary.BigEndian.Uint32(p[24:]) + 1
				}
			}
		case <-deadline:
			dev.Close()
			return nil, os.ErrDeadlineExceeded
		}
	}
	e.c.seq++
	e.c.write(e.c.segment(tcpFlagACK, nil))
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	if e.conn, err = ln.AcceptTCP(); err != nil {
		dev.Close()
		return nil, err
	}
	e.conn.SetReadBuffer(8 << 20)
	pl := make([]byte, 1380)
	for i := range pl {
		pl[i] = byte(i)
	}
	e.tmpl = e.c.segment(tcpFlagACK, pl)
	e.psum = csumAdd(0, pl)
	e.bufs = make([][]byte, 46)
	for i := range e.bufs {
		e.bufs[i] = make([]byte, MinOffset+len(e.tmpl), MinOffset+65535) // room for wireguard-go's coalescing
	}
	go func() { // keep reading the device (ACKs), as a data plane would
		for range e.reads {
		}
	}()
	return e, nil
}

// fill writes the next 46 segments of the stream into bufs: sequence numbers and IPv4
// identifications advance, checksums are recomputed from the payload's precomputed sum.
func (e *writeBenchEnv) fill() {
	for i, buf := range e.bufs {
		p := buf[MinOffset : MinOffset+len(e.tmpl)]
		e.bufs[i] = buf[:MinOffset+len(e.tmpl)]
		copy(p, e.tmpl)
		binary.BigEndian.PutUint16(p[4:], e.c.id)
		e.c.id++
		p[10], p[11] = 0, 0
		binary.BigEndian.PutUint16(p[10:], ^csumFold(csumAdd(0, p[:20])))
		tcp := p[20:]
		binary.BigEndian.PutUint32(tcp[4:], e.c.seq)
		e.c.seq += 1380
		tcp[16], tcp[17] = 0, 0
		sum := pseudoSum(p[12:16], p[16:20], unix.IPPROTO_TCP, len(tcp)) + e.psum
		binary.BigEndian.PutUint16(tcp[16:], ^csumFold(csumAdd(sum, tcp[:20])))
	}
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

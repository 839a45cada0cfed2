//go:build linux

// Command relay is the benchmark harness's ceiling: oakley's own I/O path with nothing in
// between. It opens the same TUN device oakley opens (package tun, virtio-net-header offloads:
// TSO split on read, GRO coalescing on write) and the same batched UDP sockets (esp.UDPBind:
// recvmmsg/sendmmsg, UDP GSO/GRO, 4 MiB buffers), and moves packets between them with the
// same goroutine shape as oakley's data plane (one goroutine reads the device and sends, one
// per socket receives and writes the device). No SPD, no SA, no ESP framing, no replay window.
//
// With -aead aes128gcm16 every packet is sealed inline with AES-128-GCM (an 8-byte counter in
// front as the explicit nonce and the AAD, the 16-byte tag behind), so the harness can show
// what the cipher alone costs on top of the I/O, beside what oakley's ESP costs.
//
// The relay is a measuring instrument, not a VPN: the key is fixed and sent nowhere, there is
// no replay protection, and it must only run between the harness's namespaces.
//
//	relay -dev rly0 -mtu 1420 -addr 192.0.2.1/32 -route 198.51.100.1/32 \
//	      -listen 4500 -peer 198.18.0.2:4500 [-aead aes128gcm16]
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"golang.zx2c4.com/wireguard/conn"

	"oakley/esp"
	"oakley/tun"
)

const (
	head    = 128 // headroom: room for the 16-byte TUN offset plus the relay's 8-byte header
	bufSize = head + 65535 + 64
	tagLen  = 16
	hdrLen  = 8
)

var (
	devName = flag.String("dev", "rly0", "TUN device name")
	mtu     = flag.Int("mtu", 1420, "TUN MTU")
	addr    = flag.String("addr", "", "address of the device (CIDR)")
	route   = flag.String("route", "", "prefix routed through the device")
	listen  = flag.Uint("listen", 4500, "UDP port")
	peer    = flag.String("peer", "", "the other relay's address:port")
	aead    = flag.String("aead", "", "\"aes128gcm16\": seal every packet inline with AES-128-GCM")
	offload = flag.Bool("offload", true, "TUN and UDP offloads (as oakley's defaults)")
)

// relay is one end. Counters are atomic (read at exit).
type relay struct {
	dev  *tun.TUN
	bind conn.Bind
	ep   conn.Endpoint
	gcm  cipher.AEAD

	devRx, netTx, netRx, devTx, authFail atomic.Uint64
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run() error {
	a, err := netip.ParsePrefix(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	r, err := netip.ParsePrefix(*route)
	if err != nil {
		return fmt.Errorf("-route: %w", err)
	}
	rl := &relay{}
	switch *aead {
	case "":
	case "aes128gcm16":
		blk, err := aes.NewCipher(make([]byte, 16)) // a fixed key: this is an instrument
		if err != nil {
			return err
		}
		if rl.gcm, err = cipher.NewGCM(blk); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-aead %q: only aes128gcm16", *aead)
	}
	rl.dev, err = tun.Open(tun.Options{Name: *devName, MTU: *mtu, Addresses: []netip.Prefix{a},
		Routes: []netip.Prefix{r.Masked()}, Offload: *offload}, nil)
	if err != nil {
		return err
	}
	defer rl.dev.Close()
	if rl.gcm != nil {
		rl.dev.TrustChecksums() // every packet written was authenticated, as oakley's are
	}
	rl.bind = esp.NewUDPBind(*offload, 4<<20)
	recvs, _, err := rl.bind.Open(uint16(*listen))
	if err != nil {
		return err
	}
	defer rl.bind.Close()
	if rl.ep, err = rl.bind.ParseEndpoint(*peer); err != nil {
		return fmt.Errorf("-peer: %w", err)
	}
	done := make(chan error, 1+len(recvs))
	go func() { done <- rl.outbound() }()
	for _, fn := range recvs {
		go func() { done <- rl.inbound(fn) }()
	}
	fmt.Printf("relay up: %s offload=%v aead=%q batch=%d\n", *devName, *offload, *aead, rl.dev.BatchSize())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err = <-done:
	}
	fmt.Printf("relay: device rx %d, net tx %d, net rx %d, device tx %d, auth failures %d\n",
		rl.devRx.Load(), rl.netTx.Load(), rl.netRx.Load(), rl.devTx.Load(), rl.authFail.Load())
	return err
}

func newBufs(n int) [][]byte {
	backing := make([]byte, n*bufSize)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = backing[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]
	}
	return bufs
}

// outbound reads batches from the device and sends them to the peer, in order.
func (rl *relay) outbound() error {
	bs := rl.dev.BatchSize()
	bufs, sizes, send := newBufs(bs), make([]int, bs), make([][]byte, bs)
	var seq uint64
	var nonce [12]byte
	for {
		n, err := rl.dev.Read(bufs, sizes, head)
		if err != nil && !errors.Is(err, tun.ErrTooManySegments) {
			return err
		}
		rl.devRx.Add(uint64(n))
		for i := range n {
			p := bufs[i][head : head+sizes[i]]
			if rl.gcm == nil {
				send[i] = p
				continue
			}
			seq++
			h := bufs[i][head-hdrLen : head]
			binary.BigEndian.PutUint64(h, seq)
			copy(nonce[4:], h)
			rl.gcm.Seal(p[:0], nonce[:], p, h)
			send[i] = bufs[i][head-hdrLen : head+sizes[i]+tagLen]
		}
		if n == 0 {
			continue
		}
		if err := rl.bind.Send(send[:n], rl.ep); err != nil {
			return err
		}
		rl.netTx.Add(uint64(n))
	}
}

// inbound receives batches from one socket and writes them to the device, in order.
func (rl *relay) inbound(recv conn.ReceiveFunc) error {
	bs := rl.bind.BatchSize()
	bufs, sizes, eps := newBufs(bs), make([]int, bs), make([]conn.Endpoint, bs)
	views, out := make([][]byte, bs), make([][]byte, 0, bs)
	for i := range bufs {
		views[i] = bufs[i][head : bufSize-64]
	}
	var nonce [12]byte
	for {
		n, err := recv(views, sizes, eps)
		if err != nil {
			return err
		}
		rl.netRx.Add(uint64(n))
		out = out[:0]
		for i := range n {
			start, size := head, sizes[i]
			if rl.gcm != nil {
				if size < hdrLen+tagLen {
					rl.authFail.Add(1)
					continue
				}
				h := bufs[i][head : head+hdrLen]
				copy(nonce[4:], h)
				c := bufs[i][head+hdrLen : head+size]
				if _, err := rl.gcm.Open(c[:0], nonce[:], c, h); err != nil {
					rl.authFail.Add(1)
					continue
				}
				start, size = head+hdrLen, size-hdrLen-tagLen
			}
			out = append(out, bufs[i][start-tun.MinOffset:start+size])
		}
		if len(out) == 0 {
			continue
		}
		if _, err := rl.dev.Write(out, tun.MinOffset); err != nil {
			return err
		}
		rl.devTx.Add(uint64(len(out)))
	}
}

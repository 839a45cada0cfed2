// Package tun gives oakley's data plane the device it reads plaintext IP packets from and
// writes decrypted ones to. Everything else in oakley depends on this package only, never on
// wireguard-go directly: [Device] is wireguard-go's tun.Device, re-exported.
//
// Two devices implement it:
//
//   - [TUN], opened by [Open]: a kernel TUN interface (wireguard-go's tun.CreateTUN family;
//     wintun on Windows) with its MTU set, brought up, given the site's tunnel addresses and a
//     route through it for every remote traffic selector. This is what a gateway uses. On
//     Linux the addresses, routes and link state are set through rtnetlink, and the device
//     can carry virtio-net-header offloads (TSO/USO split on Read, GRO coalescing on Write),
//     which is what makes batches larger than one packet possible. [RouteMTU] tells the daemon
//     the path MTU toward the peer so it can size the tunnel MTU (path MTU minus ESP overhead).
//   - [Netstack], opened by [OpenNetstack]: gVisor's userspace TCP/IP stack (wireguard-go's
//     tun/netstack) for the unprivileged container sidecar, which has neither a TUN nor
//     CAP_NET_ADMIN. Applications reach the tunnel through a SOCKS5 proxy
//     ([Netstack.ServeSOCKS5]), local port forwards into the tunnel ([Netstack.Forward]) and
//     listeners inside the tunnel that lead to local services ([Netstack.Expose]).
//
// # Concurrency contract
//
// A Device is read by one goroutine; it may be written from several (each Write is one
// unit: wireguard-go's devices and the coalescing writer serialize them), and reads and
// writes may run at the same time. MTU, Name, Events and BatchSize may be called from any goroutine.
// Close may be called from any goroutine, more than once, and unblocks a pending Read, which
// then returns os.ErrClosed (the signal for the reader to stop); the writers must have
// stopped before Close is called. The netstack services (SOCKS5, Forward, Expose) run their own
// goroutines, all of which Close stops and waits for.
//
// # Buffers, offset and headroom
//
// Read and Write take [][]byte plus an offset: the packet starts at bufs[i][offset:], and the
// bytes before it are the device's (and then the caller's) headroom. A caller must:
//
//   - pass offset >= [MinOffset]. The Linux TUN with offloads writes a 10-byte virtio-net
//     header just before the packet on Write; the BSD/macOS TUN writes a 4-byte address-family
//     header there on Read and Write. The data plane normally leaves far more (outer IP, UDP
//     and ESP headers) so that it can encapsulate in place.
//   - give every buffer room for offset + MTU bytes; with offloads on, buffers with a capacity
//     of offset+65535 let Write coalesce (GRO) consecutive TCP/UDP segments of one flow into a
//     single kernel write. Write may lengthen bufs[i] within its capacity and may swap elements
//     of bufs while coalescing: the set of buffers is unchanged, their order is not.
//   - pass len(bufs) >= BatchSize() to Read, because one kernel read of a TSO/USO "super
//     packet" is split into up to BatchSize() packets (fewer buffers yields
//     wireguard's tun.ErrTooManySegments).
//
// The Linux TUN's Write returns the number of bytes written, not packets (wireguard-go's
// behaviour); callers should rely on the error only.
package tun

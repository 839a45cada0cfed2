package tun

// Writing batches to a Linux TUN that carries virtio-net headers (IFF_VNET_HDR), with
// receive-side coalescing done here: consecutive TCP segments of one flow (and, where the
// kernel takes UDP segmentation offload, UDP datagrams of one flow) leave as one GSO "super
// packet", so the kernel's TCP stack sees one large segment instead of dozens. Unlike
// wireguard-go's device, which this replaces for writing, coalescing copies nothing: the head
// packet's headers are rewritten in place and the other segments' payloads are gathered by
// writev straight from the caller's buffers, so buffers need no spare capacity.
//
// Rules (Linux's own GRO, net/ipv4/tcp_offload.c, and the virtio-net header of
// include/uapi/linux/virtio_net.h): a segment joins the flow's open super packet when
// addresses, ports, IP TOS/traffic class, flow label, TTL/hop limit and the DF bit are equal,
// the IPv4 identification counts up by one,
// the TCP header is as long and its options are byte-for-byte equal, the ACK number is equal,
// its sequence number continues the super packet, only ACK (and PSH) is set, it is no longer
// than the first segment, and the super packet is not already ended (by a shorter segment or
// PSH), holds fewer than 64 segments and stays within 64 KB. Anything else is written as it
// is. Segments of one flow are never reordered; segments of different flows may be.
//
// Checksums: a super packet goes to the kernel as CHECKSUM_PARTIAL (pseudo-header sum in the
// checksum field), which the kernel trusts on local delivery, so every segment's own checksum
// is verified here before it joins, unless the writer was told the packets are already
// authenticated (TrustChecksums: the data plane has verified each with an ESP ICV, a MAC over
// the whole inner packet); then no checksum is computed at all, lone TCP and UDP packets go
// to the kernel as CHECKSUM_PARTIAL too, so it skips its own verification, and the rest carry
// VIRTIO_NET_HDR_F_DATA_VALID for kernels that honour it.
//
// Concurrency: Write is safe for concurrent use (calls are serialized, as wireguard-go's own
// device serializes them).

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	vnetHdrLen        = 10 // struct virtio_net_hdr
	vnetFlagNeedsCsum = 1  // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetFlagDataValid = 2  // VIRTIO_NET_HDR_F_DATA_VALID
	vnetGSOTCPv4      = 1  // VIRTIO_NET_HDR_GSO_TCPV4
	vnetGSOTCPv6      = 4  // VIRTIO_NET_HDR_GSO_TCPV6
	vnetGSOUDPL4      = 5  // VIRTIO_NET_HDR_GSO_UDP_L4
	groMaxSegments    = 64 // what Linux's GRO merges at most
	tcpFlagACK        = 0x10
	tcpFlagPSH        = 0x08
)

// groKey identifies a flow: version, protocol and ports in w[0], addresses in w[1:].
type groKey struct{ w [5]uint64 }

// groItem is one packet to write: a head and the segments appended to it.
type groItem struct {
	head, last int    // packet indexes; segments are linked through groWriter.next
	segs       int    // packets in the item
	payload    int    // payload bytes of all of them
	gsoSize    int    // payload of the head: every segment but the last has exactly this
	hdrLen     int    // IP + transport header length
	ipLen      int    // IP header length
	seqNext    uint32 // TCP: the sequence number a segment must have to join
	psh        bool   // TCP: the last segment carried PSH
	closed     bool   // nothing may join any more
	tcp        bool
	v6         bool
}

type groSlot struct {
	key  groKey
	item int // the flow's open item, or -1
}

// groWriter writes batches to a vnet-header TUN file. See the file comment.
type groWriter struct {
	mu        sync.Mutex // one Write at a time: the scratch below is shared
	rc        syscall.RawConn
	udpGSO    bool
	trust     atomic.Bool
	coalesced atomic.Uint64 // segments written as part of a super packet

	items []groItem
	next  []int
	slots []groSlot
	used  []int
	iovs  []unix.Iovec

	// system call state, for the RawConn callback
	wIov  *unix.Iovec
	wCnt  int
	wN    int
	wErr  syscall.Errno
	write func(fd uintptr) bool
}

// newBatchWriter returns the coalescing writer for a device opened with IFF_VNET_HDR.
// wireguard-go switched UDP segmentation offload on where the kernel has it (Linux 6.2);
// asking for it again tells whether it did, and leaves the offloads as they were otherwise.
func newBatchWriter(dev Device) (batchWriter, error) {
	f := dev.File()
	if f == nil {
		return nil, errors.New("device has no file")
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	udpGSO := false
	var serr error
	if err := rc.Control(func(fd uintptr) {
		udpGSO = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, tunTCPOffloads|unix.TUN_F_USO4|unix.TUN_F_USO6) == nil
		if !udpGSO {
			serr = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, tunTCPOffloads)
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	w := &groWriter{rc: rc, udpGSO: udpGSO}
	w.write = w.doWrite
	return w, nil
}

func (w *groWriter) trustChecksums() { w.trust.Store(true) }

// groCandidate parses pkt's headers for coalescing: it returns the flow key (keyed: pkt is
// TCP or UDP with ports), the IP and transport header lengths, and whether pkt may join or
// head a super packet.
func (w *groWriter) groCandidate(pkt []byte) (k groKey, keyed bool, ipLen, hdrLen int, tcp, v6, ok bool) {
	if len(pkt) < 28 {
		return
	}
	var proto byte
	plain := true // IP header fit for coalescing
	switch pkt[0] >> 4 {
	case 4:
		ipLen = int(pkt[0]&0x0f) * 4
		if ipLen < 20 || len(pkt) < ipLen+8 {
			return
		}
		proto = pkt[9]
		k.w[1] = uint64(binary.BigEndian.Uint32(pkt[12:])) | uint64(binary.BigEndian.Uint32(pkt[16:]))<<32
		k.w[0] = 4 << 56
		// No IP options, no fragments, no trailing bytes beyond the total length.
		plain = ipLen == 20 && int(binary.BigEndian.Uint16(pkt[2:])) == len(pkt) && binary.BigEndian.Uint16(pkt[6:])&0x3fff == 0
	case 6:
		if len(pkt) < 48 {
			return
		}
		ipLen, proto, v6 = 40, pkt[6], true
		k.w[1] = binary.BigEndian.Uint64(pkt[8:])
		k.w[2] = binary.BigEndian.Uint64(pkt[16:])
		k.w[3] = binary.BigEndian.Uint64(pkt[24:])
		k.w[4] = binary.BigEndian.Uint64(pkt[32:])
		k.w[0] = 6 << 56
		plain = int(binary.BigEndian.Uint16(pkt[4:]))+40 == len(pkt)
	default:
		return
	}
	if proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_UDP {
		return
	}
	l4 := pkt[ipLen:]
	k.w[0] |= uint64(proto)<<48 | uint64(binary.BigEndian.Uint32(l4))
	keyed = true
	if !plain {
		return
	}
	switch {
	case proto == unix.IPPROTO_TCP && len(l4) >= 20:
		thl := int(l4[12]>>4) * 4
		flags := l4[13]
		if thl < 20 || thl >= len(l4) || flags&^tcpFlagPSH != tcpFlagACK {
			return // also: no payload, or SYN, FIN, RST, URG, ECE, CWR set
		}
		hdrLen, tcp = ipLen+thl, true
	case proto == unix.IPPROTO_UDP && w.udpGSO && len(l4) > 8:
		if int(binary.BigEndian.Uint16(l4[4:])) != len(l4) {
			return
		}
		hdrLen = ipLen + 8
	default:
		return
	}
	return k, keyed, ipLen, hdrLen, tcp, v6, true
}

// canJoin reports whether pkt (headers parsed as hdrLen) may be appended to item it.
func (w *groWriter) canJoin(it *groItem, head, pkt []byte, hdrLen int) bool {
	pay := len(pkt) - hdrLen
	if it.closed || it.segs >= groMaxSegments || hdrLen != it.hdrLen || pay > it.gsoSize ||
		it.hdrLen+it.payload+pay > 0xffff {
		return false
	}
	if it.v6 {
		// Version, traffic class, flow label; hop limit.
		if binary.BigEndian.Uint32(pkt) != binary.BigEndian.Uint32(head) || pkt[7] != head[7] {
			return false
		}
	} else if pkt[1] != head[1] || pkt[8] != head[8] || pkt[6]&0xe0 != head[6]&0xe0 ||
		binary.BigEndian.Uint16(pkt[4:]) != binary.BigEndian.Uint16(head[4:])+uint16(it.segs) {
		// TOS, TTL, reserved and DF flags; the identification must count up from the
		// head's, as segmentation would recreate it
		return false
	}
	if !it.tcp {
		return true
	}
	th, hh := pkt[it.ipLen:], head[it.ipLen:]
	if binary.BigEndian.Uint32(th[4:]) != it.seqNext || binary.BigEndian.Uint32(th[8:]) != binary.BigEndian.Uint32(hh[8:]) {
		return false // out of sequence, or another ACK number
	}
	for i := 20; i < hdrLen-it.ipLen; i++ { // options, byte for byte
		if th[i] != hh[i] {
			return false
		}
	}
	return true
}

// checksumOK verifies a TCP or UDP packet's checksum over the pseudo-header (RFC 1071).
func checksumOK(pkt []byte, ipLen int, v6 bool) bool {
	addrLen := 4
	src := 12
	if v6 {
		addrLen, src = 16, 8
	}
	proto := pkt[9]
	if v6 {
		proto = pkt[6]
	}
	l4 := pkt[ipLen:]
	if proto == unix.IPPROTO_UDP && !v6 && binary.BigEndian.Uint16(l4[6:]) == 0 {
		return true // RFC 768: no checksum
	}
	sum := pseudoSum(pkt[src:src+addrLen], pkt[src+addrLen:src+2*addrLen], proto, len(l4))
	return csumFold(csumAdd(sum, l4)) == 0xffff
}

// plan groups bufs (packets at bufs[i][offset:]) into items, in order of their heads.
func (w *groWriter) plan(bufs [][]byte, offset int) {
	n := len(bufs)
	w.items = w.items[:0]
	if cap(w.next) < n {
		w.next = make([]int, n)
		size := 1
		for size < 2*n {
			size <<= 1
		}
		w.slots = make([]groSlot, size)
		for i := range w.slots {
			w.slots[i].item = -1
		}
	}
	w.next = w.next[:n]
	for _, s := range w.used {
		w.slots[s].item = -1
	}
	w.used = w.used[:0]
	trust := w.trust.Load()
	for i := range n {
		w.next[i] = -1
		pkt := bufs[i][offset:]
		k, keyed, ipLen, hdrLen, tcp, v6, ok := w.groCandidate(pkt)
		if ok && !trust && !checksumOK(pkt, ipLen, v6) {
			ok = false // written alone, for the kernel to drop and count
		}
		if !ok {
			if keyed {
				// Nothing of this flow may be written before this packet any more.
				if it := w.slot(k).item; it >= 0 {
					w.items[it].closed = true
				}
			}
			w.items = append(w.items, groItem{head: i, last: i, segs: 1, closed: true})
			continue
		}
		slot := w.slot(k)
		if it := slot.item; it >= 0 {
			item := &w.items[it]
			if w.canJoin(item, bufs[item.head][offset:], pkt, hdrLen) {
				w.next[item.last] = i
				item.last = i
				item.segs++
				pay := len(pkt) - hdrLen
				item.payload += pay
				if tcp {
					item.seqNext += uint32(pay)
					if pkt[ipLen+13]&tcpFlagPSH != 0 {
						item.psh, item.closed = true, true
					}
				}
				if pay < item.gsoSize {
					item.closed = true
				}
				continue
			}
		}
		pay := len(pkt) - hdrLen
		item := groItem{head: i, last: i, segs: 1, payload: pay, gsoSize: pay, hdrLen: hdrLen, ipLen: ipLen, tcp: tcp, v6: v6}
		if tcp {
			item.seqNext = binary.BigEndian.Uint32(pkt[ipLen+4:]) + uint32(pay)
			item.psh = pkt[ipLen+13]&tcpFlagPSH != 0
			item.closed = item.psh
		}
		slot.item = len(w.items)
		w.items = append(w.items, item)
	}
}

// slot finds (or claims) the table slot of flow k.
func (w *groWriter) slot(k groKey) *groSlot {
	h := k.w[0]*0x9e3779b97f4a7c15 ^ k.w[1] ^ k.w[2]*0xbf58476d1ce4e5b9 ^ k.w[3] ^ k.w[4]*0x94d049bb133111eb
	mask := uint64(len(w.slots) - 1)
	for s := (h ^ h>>31) & mask; ; s = (s + 1) & mask {
		sl := &w.slots[s]
		if sl.item < 0 {
			sl.key = k
			w.used = append(w.used, int(s))
			return sl
		}
		if sl.key == k {
			return sl
		}
	}
}

// finish rewrites the head of a coalesced item into a GSO super packet: lengths, the IPv4
// header checksum, PSH, the pseudo-header sum in the transport checksum field, and the
// virtio-net header in front (hdr).
func finish(it *groItem, hdr, pkt []byte) {
	total := it.hdrLen + it.payload
	l4len := total - it.ipLen
	var src, dst []byte
	if it.v6 {
		binary.BigEndian.PutUint16(pkt[4:], uint16(l4len))
		src, dst = pkt[8:24], pkt[24:40]
	} else {
		binary.BigEndian.PutUint16(pkt[2:], uint16(total))
		pkt[10], pkt[11] = 0, 0
		binary.BigEndian.PutUint16(pkt[10:], ^csumFold(csumAdd(0, pkt[:20])))
		src, dst = pkt[12:16], pkt[16:20]
	}
	l4 := pkt[it.ipLen:]
	gso, csumOff := byte(vnetGSOUDPL4), 6
	proto := byte(unix.IPPROTO_UDP)
	if it.tcp {
		gso, csumOff, proto = vnetGSOTCPv4, 16, unix.IPPROTO_TCP
		if it.v6 {
			gso = vnetGSOTCPv6
		}
		if it.psh {
			l4[13] |= tcpFlagPSH
		}
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
	}
	binary.BigEndian.PutUint16(l4[csumOff:], csumFold(pseudoSum(src, dst, proto, l4len)))
	hdr[0], hdr[1] = vnetFlagNeedsCsum, gso
	binary.NativeEndian.PutUint16(hdr[2:], uint16(it.hdrLen))
	binary.NativeEndian.PutUint16(hdr[4:], uint16(it.gsoSize))
	binary.NativeEndian.PutUint16(hdr[6:], uint16(it.ipLen))
	binary.NativeEndian.PutUint16(hdr[8:], uint16(csumOff))
}

// partial hands a lone, already authenticated TCP or UDP packet to the kernel as
// CHECKSUM_PARTIAL (pseudo-header sum in the checksum field), which it trusts on local
// delivery and completes when it forwards: it then verifies nothing. (Kernels up to at least
// 6.18 ignore VIRTIO_NET_HDR_F_DATA_VALID on TUN writes.)
func partial(it *groItem, hdr, pkt []byte) {
	l4len := len(pkt) - it.ipLen
	src, dst, proto := pkt[12:16], pkt[16:20], pkt[9]
	if it.v6 {
		src, dst, proto = pkt[8:24], pkt[24:40], pkt[6]
	}
	csumOff := 6
	if it.tcp {
		csumOff = 16
	}
	binary.BigEndian.PutUint16(pkt[it.ipLen+csumOff:], csumFold(pseudoSum(src, dst, proto, l4len)))
	hdr[0] = vnetFlagNeedsCsum
	binary.NativeEndian.PutUint16(hdr[2:], uint16(it.hdrLen))
	binary.NativeEndian.PutUint16(hdr[6:], uint16(it.ipLen))
	binary.NativeEndian.PutUint16(hdr[8:], uint16(csumOff))
}

// Write coalesces and writes bufs; see the file comment. It returns the bytes written.
func (w *groWriter) Write(bufs [][]byte, offset int) (int, error) {
	if offset < vnetHdrLen {
		return 0, errors.New("tun: offset leaves no room for the virtio-net header")
	}
	for _, b := range bufs {
		if len(b) <= offset {
			return 0, errors.New("tun: empty packet")
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.plan(bufs, offset)
	var errs error
	total := 0
	for i := range w.items {
		w.build(bufs, offset, &w.items[i])
		n, err := w.writev()
		if err != nil {
			if errors.Is(err, unix.EBADFD) || errors.Is(err, unix.EBADF) || errors.Is(err, os.ErrClosed) {
				return total, os.ErrClosed
			}
			errs = errors.Join(errs, err)
			continue
		}
		total += n
	}
	return total, errs
}

// build fills w.iovs with item it: the virtio-net header and the head packet, then the
// payloads of the segments appended to it.
func (w *groWriter) build(bufs [][]byte, offset int, it *groItem) {
	head := bufs[it.head]
	hdr := head[offset-vnetHdrLen : offset]
	w.iovs = w.iovs[:0]
	if it.segs == 1 {
		clear(hdr)
		if w.trust.Load() {
			if it.hdrLen > 0 {
				partial(it, hdr, head[offset:])
			} else {
				hdr[0] = vnetFlagDataValid
			}
		}
		w.iovs = append(w.iovs, iovec(head[offset-vnetHdrLen:]))
		return
	}
	finish(it, hdr, head[offset:])
	w.coalesced.Add(uint64(it.segs))
	w.iovs = append(w.iovs, iovec(head[offset-vnetHdrLen:]))
	for j := w.next[it.head]; j >= 0; j = w.next[j] {
		w.iovs = append(w.iovs, iovec(bufs[j][offset+it.hdrLen:]))
	}
}

func iovec(b []byte) unix.Iovec {
	v := unix.Iovec{Base: &b[0]}
	v.SetLen(len(b))
	return v
}

func (w *groWriter) writev() (int, error) {
	w.wIov, w.wCnt = &w.iovs[0], len(w.iovs)
	if err := w.rc.Write(w.write); err != nil {
		return 0, err
	}
	if w.wErr != 0 {
		return 0, w.wErr
	}
	return w.wN, nil
}

// doWrite is the RawConn write callback: false asks the poller to wait for writability.
func (w *groWriter) doWrite(fd uintptr) bool {
	r, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(w.wIov)), uintptr(w.wCnt))
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	w.wErr, w.wN = e, int(r)
	return true
}

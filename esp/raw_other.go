//go:build !linux

package esp

import (
	"errors"
	"net/netip"

	"golang.zx2c4.com/wireguard/conn"
)

const rawBatch = 32

type rawSockets struct{}

type rawReceiver struct {
	fn   conn.ReceiveFunc
	kind srcKind
}

func openRaw() (*rawSockets, error) {
	return nil, errors.New("esp: raw ESP/AH encapsulation is implemented on Linux only; use encap = \"udp\"")
}

func (r *rawSockets) receivers() []rawReceiver { return nil }
func (r *rawSockets) send([][]byte, netip.Addr, Protocol) error {
	return errors.New("esp: no raw sockets")
}
func (r *rawSockets) close() {}

func (r *rawSockets) setMark(uint32) error { return nil }

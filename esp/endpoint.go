package esp

import (
	"net"
	"net/netip"
)

var errNetClosed = net.ErrClosed

// rawEndpoint is the conn.Endpoint of a datagram received on a raw socket.
type rawEndpoint struct{ addr netip.Addr }

func (e rawEndpoint) ClearSrc()           {}
func (e rawEndpoint) SrcToString() string { return "" }
func (e rawEndpoint) DstToString() string { return e.addr.String() }
func (e rawEndpoint) DstToBytes() []byte  { b, _ := e.addr.MarshalBinary(); return b }
func (e rawEndpoint) DstIP() netip.Addr   { return e.addr }
func (e rawEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }

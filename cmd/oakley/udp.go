package main

import (
	"golang.zx2c4.com/wireguard/conn"

	"oakley/esp"
)

// newUDPBind returns the sockets for IKE and ESP-in-UDP: oakley's batched, allocation-free
// UDP layer (sendmmsg/recvmmsg, UDP GSO/GRO when udp_offload and the kernel allow them, and
// socket_buffer-sized buffers).
func newUDPBind(offload bool, socketBuffer int) conn.Bind {
	return esp.NewUDPBind(offload, socketBuffer)
}

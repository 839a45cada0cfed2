package main

import (
	"golang.zx2c4.com/wireguard/conn"

	"oakley/esp"
)

// newUDPBind returns the sockets for IKE and ESP-in-UDP: wireguard-go's batched StdNetBind
// (sendmmsg/recvmmsg with UDP GSO/GRO where the kernel offers them, 7 MiB socket buffers), or,
// with udp_offload = false, plain batched sockets with socket_buffer-sized buffers.
func newUDPBind(offload bool, socketBuffer int) conn.Bind {
	if offload {
		return conn.NewStdNetBind()
	}
	return &esp.PlainBind{SocketBuffer: socketBuffer}
}

//go:build !linux

package tun

// newBatchWriter: only Linux devices carry virtio-net headers; elsewhere wireguard-go's
// device writes.
func newBatchWriter(Device) (batchWriter, error) { return nil, nil }

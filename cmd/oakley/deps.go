package main

// Temporary: keeps the design card's dependencies in go.mod until the code that uses them lands.
import (
	_ "github.com/BurntSushi/toml"
	_ "go.uber.org/zap"
	_ "golang.org/x/crypto/chacha20poly1305"
	_ "golang.org/x/net/ipv4"
	_ "golang.org/x/net/ipv6"
	_ "golang.org/x/sys/unix"
	_ "golang.zx2c4.com/wireguard/tun"
	_ "golang.zx2c4.com/wireguard/tun/netstack"
)

func main() {}

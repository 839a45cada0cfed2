// Package config reads oakley's TOML site configuration, fills in the defaults, checks every
// value and returns a Config whose fields are ready to use: durations as time.Duration, byte
// sizes as int64, addresses as netip values, traffic selectors, identities and proposals
// parsed, secrets as crypto.Key. No other package parses configuration strings.
//
// The schema is the contract in docs/CONFIG.md (names follow strongSwan's swanctl.conf):
//
//	[daemon]      log_level, log_format, control_socket, metrics, ike_port, natt_port,
//	              insecure_algorithms, + udp_offload, socket_buffer, workers
//	[device]      kind, name, mtu, addresses, routes, + offload
//	[netstack]    socks5, [[netstack.forward]] and [[netstack.expose]] (proto, listen, to)
//	[[connection]]  name, keying, version, aggressive, local_addr, remote_addr, local_id,
//	              remote_id, auth, psk, psk_file, cert, key, cacerts, remote_cert, proposals,
//	              rekey_time, dpd_delay, dpd_timeout, dpd_action, start_action, encap, mobike
//	  [[connection.child]]  name, local_ts, remote_ts, mode, esp_proposals, ah_proposals,
//	              rekey_time, life_bytes, life_packets, replay_window, start_action,
//	              and for keying = "manual": in_spi, out_spi, in_key, out_key,
//	              in_auth_key, out_auth_key
//
// Keys marked + are additions to CONFIG.md that the daemon needs:
//
//	[device] offload = true        Linux TUN GSO/GRO offloads (virtio-net header); false = off.
//	[daemon] udp_offload = true    UDP GSO/GRO and sendmmsg/recvmmsg batching on the IKE and
//	                               ESP-in-UDP sockets; false = one datagram per syscall.
//	[daemon] socket_buffer = "4MB" SO_RCVBUF and SO_SNDBUF of the UDP sockets, a byte size
//	                               (0 = leave the OS default; at most 1GiB).
//	[daemon] workers = 0           crypto worker goroutines for CBC+HMAC batches; 0 = automatic
//	                               (inline on two CPUs or fewer, half the CPUs otherwise).
//	[[connection]] remote_port = 500       the peer's IKE port (strongSwan's name).
//	[[connection]] remote_natt_port = 4500 the peer's NAT-T port: ESP-in-UDP and floated IKE.
//	                               Both let peers on other ports (unprivileged sidecars, the
//	                               demo) reach each other.
//
// Units. Durations are strings: Go's time.ParseDuration syntax ("30s", "1h30m", "24h"), a
// whole number of days ("7d"), or "0". Byte sizes are integers (bytes) or strings with a
// unit: B, kB/KB, MB, GB, TB are powers of 1000 (SI) and KiB, MiB, GiB, TiB powers of 1024
// (IEC), matched case-insensitively, so "100MB" = 100 000 000 and "4KiB" = 4096.
//
// Errors. Load and Parse check everything and return every problem as an Errors value, one
// "file:line: message" per problem, at the line of the offending key (or of the table header
// when a key is missing); TOML syntax errors keep the parser's line and column. Problems that
// do not stop the daemon (an insecure algorithm allowed by insecure_algorithms, a weak PSK,
// Aggressive Mode with a PSK, manual keying with an AEAD) are Config.Warnings. No message
// contains a secret.
//
// Files named in the configuration (psk_file, cert, key, cacerts, remote_cert) are relative
// to the directory of the configuration file; psk_file and key are refused when group or
// other may read or write them.
package config

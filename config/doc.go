// Package config reads oakley's TOML site configuration, fills in the defaults, checks every
// value and returns a Config whose fields are ready to use: durations as time.Duration, byte
// sizes as int64, addresses as netip values, traffic selectors, identities and proposals
// parsed, secrets as crypto.Key. No other package parses configuration strings.
//
// The schema is the contract in config/README.md (every key of every table, its type, default
// and constraints; names follow strongSwan's swanctl.conf). The keys each table accepts are
// listed once, in schema.go; TestReferenceMatchesLoader keeps README.md and that list equal.
//
//	[daemon]      log_level, log_format, control_socket, metrics, ike_port, natt_port,
//	              udp_offload, socket_buffer, workers, insecure_algorithms, user,
//	              retransmit_timeout, retransmit_base, retransmit_tries
//	[device]      kind, name, mtu, addresses, routes, offload
//	[netstack]    socks5, [[netstack.forward]] and [[netstack.expose]] (proto, listen, to)
//	[[connection]]  name, keying, version, aggressive, local_addr, remote_addr, local_id,
//	              remote_id, auth, psk, psk_file, cert, key, cacerts, remote_cert, crls,
//	              send_cert, fragmentation, vips, pools, xauth, xauth_id, eap, eap_id,
//	              password_file, proposals, rekey_time, dpd_delay, dpd_timeout, dpd_action,
//	              start_action, encap, mobike, remote_port, remote_natt_port
//	  [[connection.child]]  name, local_ts, remote_ts, mode, esp_proposals, ah_proposals,
//	              rekey_time, life_bytes, life_packets, replay_window, start_action,
//	              and for keying = "manual": in_spi, out_spi, in_key, out_key,
//	              in_auth_key, out_auth_key
//	[[pool]]      name, addrs, dns, split
//	[[user]]      name, password_file, pools
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
// Aggressive Mode with a PSK, manual keying with an AEAD, an ignored key) are
// Config.Warnings. No message contains a secret.
//
// Features described before the daemon implements them (IKEv2, certificates, XAUTH, EAP,
// virtual IPs) are checked like everything else and then refused with "not implemented yet";
// notimpl.go holds the one table that decides which.
//
// Files named in the configuration (psk_file, password_file, cert, key, cacerts, remote_cert,
// crls) are relative to the directory of the configuration file; psk_file, password_file and
// key are refused when group or other may read or write them.
package config

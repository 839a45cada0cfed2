package config

import "slices"

// The schema: the one list of the keys each table accepts. The loader refuses every other key
// ("unknown key", with the closest listed key as a suggestion), a getter that reads a key not
// listed here is an internal error, and TestReferenceMatchesLoader compares these lists with
// the tables of config/README.md, so the reference and the loader cannot drift apart.
//
// A table is named by its dotted path without array indices: "" is the top level, "daemon" is
// [daemon], "connection.child" every [[connection.child]].

// tableSchema lists a table's value keys and its sub-tables (keys whose value is a table or an
// array of tables, documented in their own section).
type tableSchema struct {
	keys   []string
	tables []string
}

var schema = map[string]tableSchema{
	"": {tables: []string{"daemon", "device", "netstack", "connection", "pool", "user"}},
	"daemon": {keys: []string{"log_level", "log_format", "control_socket", "metrics", "ike_port",
		"natt_port", "udp_offload", "socket_buffer", "workers", "insecure_algorithms", "user",
		"retransmit_timeout", "retransmit_base", "retransmit_tries"}},
	"device":           {keys: []string{"kind", "name", "mtu", "addresses", "routes", "offload"}},
	"netstack":         {keys: []string{"socks5"}, tables: []string{"forward", "expose"}},
	"netstack.forward": {keys: forwardKeys},
	"netstack.expose":  {keys: forwardKeys},
	"connection": {keys: []string{"name", "keying", "version", "aggressive", "local_addr",
		"remote_addr", "local_id", "remote_id", "auth", "psk", "psk_file", "cert", "key",
		"cacerts", "remote_cert", "crls", "send_cert", "fragmentation", "vips", "pools", "xauth",
		"xauth_id", "eap", "eap_id", "password_file", "proposals", "rekey_time", "dpd_delay",
		"dpd_timeout", "dpd_action", "start_action", "encap", "mobike", "remote_port",
		"remote_natt_port"},
		tables: []string{"child"}},
	"connection.child": {keys: append([]string{"name", "local_ts", "remote_ts", "mode",
		"esp_proposals", "ah_proposals", "rekey_time", "life_bytes", "life_packets",
		"replay_window", "start_action"}, manualKeys...)},
	"pool": {keys: []string{"name", "addrs", "dns", "split"}},
	"user": {keys: []string{"name", "password_file", "pools"}},
}

var forwardKeys = []string{"proto", "listen", "to"}

// schemaKind is the schema name of sub-table key inside table kind.
func schemaKind(kind, key string) string {
	if kind == "" {
		return key
	}
	return kind + "." + key
}

// schemaHas reports whether table kind accepts key (a value key or a sub-table).
func schemaHas(kind, key string) bool {
	s := schema[kind]
	return slices.Contains(s.keys, key) || slices.Contains(s.tables, key)
}

// schemaNames returns every key table kind accepts, for suggestions.
func schemaNames(kind string) []string {
	s := schema[kind]
	return append(append([]string(nil), s.keys...), s.tables...)
}

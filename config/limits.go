package config

import "time"

// DefaultIKEVersion is the IKE version of a connection that does not set version: IKEv2, as
// CONFIG.md promises (version = 1 keeps IKEv1).
const DefaultIKEVersion = 2

// Lifetime floors. Nothing bounded lifetimes from below, so rekey_time = "1s" or
// life_bytes = 1000 made the peers rekey continuously: a rekey storm, where every rekey costs a
// key exchange on both peers and briefly doubles the SAs, and traffic stalls behind it. Load
// refuses a non-zero value under these floors (0 still means never / unlimited).
const (
	MinRekeyTime   = 5 * time.Second // IKE SA and child SA rekey_time
	MinLifeBytes   = 1_000_000       // child life_bytes (1MB)
	MinLifePackets = 1000            // child life_packets
)

// Retransmission of IKE requests ([daemon] retransmit_*), in the shape of strongSwan's
// charon.retransmit_timeout, retransmit_base and retransmit_tries, with its defaults.
const (
	DefaultRetransmitTimeout = 4 * time.Second
	DefaultRetransmitBase    = 1.8
	DefaultRetransmitTries   = 5
	MinRetransmitTimeout     = 100 * time.Millisecond
	MaxRetransmitTimeout     = 10 * time.Minute
	MaxRetransmitTries       = 20
	// MaxRetransmitTotal bounds the whole schedule (Daemon.RetransmitSchedule summed): a peer
	// is given up within a day at the latest, and no interval overflows a time.Duration.
	MaxRetransmitTotal = 24 * time.Hour
)

// maxPasswordLen bounds a password read from password_file (after trailing blanks and
// newlines): MS-CHAPv2 passwords have at most 256 characters (RFC 2759 §4, 512 bytes of
// UTF-16), which is at most 1024 bytes of UTF-8.
const maxPasswordLen = 1024

// rekeyStorm is the reason given with every floor.
const rekeyStorm = "a lifetime this short makes the peers rekey continuously (a rekey storm)"

// rekeyTime reads rekey_time: 0 or at least MinRekeyTime.
func (t *table) rekeyTime(def time.Duration) time.Duration {
	d := t.duration("rekey_time", def)
	if d != 0 && d < MinRekeyTime {
		t.r.errorf(t.keyLine("rekey_time"), "rekey_time = %s is below the floor of %s: %s; use 0 for never", d, MinRekeyTime, rekeyStorm)
		return def
	}
	return d
}

// floorCount refuses a non-zero count below min (life_bytes, life_packets).
func (t *table) floorCount(key string, n, min int64, unit string) int64 {
	if n != 0 && n < min {
		t.r.errorf(t.keyLine(key), "%s = %d is below the floor of %d %s: %s; use 0 for unlimited", key, n, min, unit, rekeyStorm)
		return 0
	}
	return n
}

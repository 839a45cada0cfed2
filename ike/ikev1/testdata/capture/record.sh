#!/bin/bash
# record.sh WORKDIR - record strongSwan <-> strongSwan IKEv1 sessions for the known-answer and
# replay tests of package ike (root; namespaces ikx-left/ikx-right via the interop harness,
# torn down on exit). Each case: tshark on ikx-left veth0, both charons at
# "ike=4 chd=4 enc=4 net=4" (they print SKEYID*, Ka, IVs, hashes, DH secrets and ESP keys),
# initiate from left, wait, terminate. Then run extract.py WORKDIR > ../strongswan-sessions.txt.
set -uo pipefail
SS=${SS:-/work/shared/interop/strongswan}
W=$(mkdir -p "$1" && cd "$1" && pwd)
export SWNS_PREFIX=ikx
PSK="interop-test-psk-0123456789"

conf() { # SIDE AGGR IKE ESP EXTRA
	local side=$1 aggr=$2 ike=$3 esp=$4 extra=$5 lid rid lts rts remote
	if [ "$side" = left ]; then lid=left.test rid=right.test lts=192.0.2.1/32 rts=198.51.100.1/32 remote=198.18.0.2
	else lid=right.test rid=left.test lts=198.51.100.1/32 rts=192.0.2.1/32 remote=%any; fi
	cat <<CONF
connections {
	c {
		version = 1
		aggressive = $aggr
		proposals = $ike
		remote_addrs = $remote
		$extra
		local {
			auth = psk
			id = $lid
		}
		remote {
			auth = psk
			id = $rid
		}
		children {
			net {
				local_ts = $lts
				remote_ts = $rts
				esp_proposals = $esp
				start_action = none
			}
		}
	}
}
secrets {
	ike-c {
		id-1 = left.test
		id-2 = right.test
		secret = "$PSK"
	}
}
CONF
}

one() { # NAME AGGR IKE ESP LEFT-EXTRA WAIT
	local c=$1 out=$W/$1 L= R= TP=
	rm -rf "$out"; mkdir -p "$out/left" "$out/right"
	conf left "$2" "$3" "$4" "$5" > "$out/left/swanctl.conf"
	conf right "$2" "$3" "$4" "" > "$out/right/swanctl.conf"
	"$SS/netns.sh" up direct
	ip netns exec ikx-left tshark -q -i veth0 -f 'udp port 500 or udp port 4500' -w "$out/cap.pcap" >"$out/tshark.out" 2>&1 &
	TP=$!
	for i in $(seq 1 100); do grep -q 'Capturing on' "$out/tshark.out" && break; sleep 0.1; done
	export CHARON_LOGSUBSYS="enc=4 net=4 ike=4 chd=4"
	L=$("$SS/peer.sh" start ikx-left "$out/left")
	R=$("$SS/peer.sh" start ikx-right "$out/right")
	"$SS/peer.sh" ctl "$L" --initiate --child net --timeout 20 >"$out/initiate.out" 2>&1
	sleep "$6"
	"$SS/peer.sh" ctl "$L" --terminate --ike c --timeout 10 >"$out/terminate.out" 2>&1
	sleep 1
	kill -INT "$TP"; wait "$TP"
	cp "$L/charon.log" "$out/left.log"; KEEP_STATE= "$SS/peer.sh" stop "$L"; rm -f "${L%/}.log"
	cp "$R/charon.log" "$out/right.log"; KEEP_STATE= "$SS/peer.sh" stop "$R"; rm -f "${R%/}.log"
	"$SS/netns.sh" down
}
trap '"$SS/netns.sh" down' EXIT
one main-psk no aes256-sha256-modp2048 aes256-sha256 "dpd_delay = 1s" 3
one main-psk-pfs no aes256-sha256-modp2048 aes256-sha256-modp2048 "" 1
one main-3des-sha1 no 3des-sha1-modp2048 aes128-sha1 "" 1
one aggr-psk yes aes256-sha256-modp2048 aes128gcm16 "" 1
one aggr-psk-pfs yes aes128-sha256-ecp256 aes128gcm16-ecp256 "" 1

#!/bin/bash
# capture.sh WORKDIR - record the IKEv1 sessions behind ../strongswan-*.hex with the strongSwan
# interop harness (root; namespaces isk-left/isk-right, torn down on exit). Then run
#   python3 extract.py WORKDIR ikev1-main-psk ikev1-aggr-psk ikev1-main-cert ikev1-main-psk-pfs
#   python3 keys.py WORKDIR > ../strongswan-main-psk-keys.txt
# (and regenerate the fuzz corpora: go test ./ike/isakmp/ -run TestWriteFuzzCorpus -update-corpus).
# New captures have new cookies, nonces and keys: the golden tests assert structure and
# cross-checks within one session, so they keep passing on a fresh recording.
set -uo pipefail
SS=${SS:-/work/shared/interop/strongswan}
W=$(mkdir -p "$1" && cd "$1" && pwd)
export SWNS_PREFIX=isk
cases="ikev1-main-psk ikev1-aggr-psk ikev1-main-cert ikev1-main-psk-pfs"
for c in $cases; do rm -rf "$W/cfg-$c"; cp -r "$SS/configs/$c" "$W/cfg-$c"; chmod -R u+w "$W/cfg-$c"; done
# main-psk: the initiator also sends DPD R-U-THERE every second (RFC 3706 notifications)
sed -i 's/version = 1/version = 1\n\t\tdpd_delay = 1s/' "$W/cfg-ikev1-main-psk/left/swanctl.conf"
(cd "$W/cfg-ikev1-main-cert" && ./setup.sh)   # throw-away CA and RSA certificates

one() { # CASE WAIT: capture on isk-left veth0, initiate, wait, terminate (Delete payloads)
	local c=$1 wait=$2 out=$W/out-$1 L= R= TP=
	rm -rf "$out"; mkdir -p "$out"
	"$SS/netns.sh" up direct
	ip netns exec isk-left tshark -q -i veth0 -f 'udp port 500 or udp port 4500' -w "$out/cap.pcap" >"$out/tshark.out" 2>&1 &
	TP=$!
	for i in $(seq 1 100); do grep -q 'Capturing on' "$out/tshark.out" && break; sleep 0.1; done
	export CHARON_LOGSUBSYS="enc=4 net=4 ike=4 chd=4"
	L=$("$SS/peer.sh" start isk-left "$W/cfg-$c/left")
	R=$("$SS/peer.sh" start isk-right "$W/cfg-$c/right")
	"$SS/peer.sh" ctl "$L" --initiate --child net --timeout 20 >"$out/initiate.out" 2>&1
	sleep "$wait"
	conn=$(grep -o '^\s*v1[a-z]*' "$W/cfg-$c/left/swanctl.conf" | tr -d '[:space:]')
	"$SS/peer.sh" ctl "$L" --terminate --ike "$conn" --timeout 10 >"$out/terminate.out" 2>&1
	sleep 1
	kill -INT "$TP"; wait "$TP"
	cp "$L/charon.log" "$out/left.log"; KEEP_STATE= "$SS/peer.sh" stop "$L"; rm -f "${L%/}.log"
	cp "$R/charon.log" "$out/right.log"; KEEP_STATE= "$SS/peer.sh" stop "$R"; rm -f "${R%/}.log"
	"$SS/netns.sh" down
}
trap '"$SS/netns.sh" down' EXIT
one ikev1-main-psk 4
one ikev1-aggr-psk 1
one ikev1-main-cert 1
one ikev1-main-psk-pfs 1

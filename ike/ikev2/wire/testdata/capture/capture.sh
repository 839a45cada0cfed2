#!/bin/bash
# capture.sh WORKDIR - record the IKEv2 sessions behind ../strongswan-*.hex with the strongSwan
# interop harness (root; namespaces v2w-left/v2w-right, torn down on exit), then
#   python3 extract.py WORKDIR psk-cbc psk-gcm psk-cbc-frag cert-chacha
# writes strongswan-CASE.hex and strongswan-CASE-keys.txt into WORKDIR (copy them to ..), and
#   go test ./ike/ikev2/wire/ -run TestWriteFuzzCorpus -update-corpus
# regenerates the fuzz seeds. A new recording has new SPIs, nonces and keys: the golden tests
# check structure and values that are the same in every session of the configs in configs/.
set -uo pipefail
SS=${SS:-/work/shared/interop/strongswan}
here=$(cd "$(dirname "$0")" && pwd)
W=$(mkdir -p "$1" && cd "$1" && pwd)
export SWNS_PREFIX=v2w
cases=${CASES:-"psk-cbc psk-gcm psk-cbc-frag cert-chacha"}
for c in $cases; do rm -rf "$W/cfg-$c"; cp -r "$here/configs/$c" "$W/cfg-$c"; chmod -R u+w "$W/cfg-$c"; done

certs() { # throw-away CA and RSA-2048 certificates (test material only) for the cert-* cases
	local d=$1 side
	pki() { command pki "$@" 2> >(grep -v -e "TPM 2.0" -e "plugin 'tpm'" >&2); }
	mkdir -p "$d/ca"
	pki --gen --type rsa --size 2048 --outform pem > "$d/ca/ca.key"
	pki --self --ca --lifetime 3650 --in "$d/ca/ca.key" --type rsa \
		--dn "C=XX, O=oakley-test, CN=oakley test CA" --outform pem > "$d/ca/ca.crt"
	for side in left right; do
		mkdir -p "$d/$side/x509ca" "$d/$side/x509" "$d/$side/private"
		pki --gen --type rsa --size 2048 --outform pem > "$d/$side/private/$side.key"
		pki --pub --in "$d/$side/private/$side.key" --type rsa |
			pki --issue --lifetime 3650 --cacert "$d/ca/ca.crt" --cakey "$d/ca/ca.key" \
				--dn "C=XX, O=oakley-test, CN=$side.test" --san "$side.test" \
				--flag serverAuth --flag clientAuth --outform pem > "$d/$side/x509/$side.crt"
		cp "$d/ca/ca.crt" "$d/$side/x509ca/ca.crt"
		chmod 600 "$d/$side/private/$side.key"
	done
}

one() { # CASE: capture on v2w-left veth0; initiate, rekey the CHILD_SA and the IKE SA, terminate
	local c=$1 out=$W/out-$1 L= R= TP=
	rm -rf "$out"; mkdir -p "$out"
	case $c in cert-*) certs "$W/cfg-$c" ;; esac
	"$SS/netns.sh" up direct
	ip netns exec v2w-left tshark -q -i veth0 -f 'udp port 500 or udp port 4500' -w "$out/cap.pcap" >"$out/tshark.out" 2>&1 &
	TP=$!
	for i in $(seq 1 100); do grep -q 'Capturing on' "$out/tshark.out" && break; sleep 0.1; done
	export CHARON_LOGSUBSYS="enc=4 net=4 ike=4 chd=4 cfg=2"
	L=$("$SS/peer.sh" start v2w-left "$W/cfg-$c/left")
	R=$("$SS/peer.sh" start v2w-right "$W/cfg-$c/right")
	"$SS/peer.sh" ctl "$L" --initiate --child net --timeout 20 >"$out/initiate.out" 2>&1
	sleep 1
	"$SS/peer.sh" ctl "$L" --rekey --child net >"$out/rekey-child.out" 2>&1
	sleep 1
	"$SS/peer.sh" ctl "$L" --rekey --ike v2 >"$out/rekey-ike.out" 2>&1
	sleep 1
	"$SS/peer.sh" ctl "$L" --list-sas >"$out/list-sas.out" 2>&1
	"$SS/peer.sh" ctl "$L" --terminate --ike v2 --timeout 10 >"$out/terminate.out" 2>&1
	sleep 1
	kill -INT "$TP"; wait "$TP"
	cp "$L/charon.log" "$out/left.log"; KEEP_STATE= "$SS/peer.sh" stop "$L"; rm -f "${L%/}.log"
	cp "$R/charon.log" "$out/right.log"; KEEP_STATE= "$SS/peer.sh" stop "$R"; rm -f "${R%/}.log"
	"$SS/netns.sh" down
}
trap '"$SS/netns.sh" down' EXIT
for c in $cases; do one "$c"; done

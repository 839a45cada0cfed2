#!/usr/bin/env bash
# packaging/test-deb.sh DISTDIR: installs the .deb built for this machine's architecture
# (packaging/deb/build.sh) and exercises it end to end, then removes and purges it:
#
#   the package is reproducible (rebuilt in a temporary directory: same bytes);
#   oakley is on PATH and prints the packaged version; the oakley user and /etc/oakley/secrets exist;
#   the shipped /etc/oakley/oakley.toml passes `oakley check`, and so does its commented
#   example once uncommented (negative control: a group-readable psk_file is refused);
#   the man page is installed, renders, and has an entry for every command of `oakley help`;
#   dpkg --verify finds every file intact; systemd-analyze verify accepts the unit (where it runs);
#   the unit's privilege model: `oakley up` as the unit's User with only the unit's
#   AmbientCapabilities (setpriv, no_new_privs, bounding set) in a fresh network namespace
#   creates the TUN device and binds UDP 500/4500; negative controls without CAP_NET_ADMIN
#   and without CAP_NET_BIND_SERVICE fail;
#   dpkg -r removes the files but keeps the conffile; dpkg -P removes the rest.
#
# The systemd sandbox itself (ProtectSystem=, SystemCallFilter=, DeviceAllow=, ...) needs a
# running systemd, which a CI container lacks: the script says so when it cannot exercise it.
# Root only (dpkg -i); skips with a message otherwise. Refuses to run if oakley is installed.
set -euo pipefail
dist=$(cd "${1:?usage: test-deb.sh DISTDIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "test-deb: SKIP: needs root (dpkg -i)"
	exit 0
fi
for tool in dpkg-deb setpriv unshare ip ss; do
	command -v "$tool" >/dev/null || { echo "test-deb: FAIL: $tool missing (.ci/run installs it)"; exit 1; }
done
arch=$(dpkg --print-architecture)
shopt -s nullglob
debs=("$dist"/oakley_*_"$arch".deb)
[ ${#debs[@]} -eq 1 ] || { echo "test-deb: FAIL: want one oakley_*_$arch.deb in $dist, have ${#debs[@]}"; exit 1; }
deb=${debs[0]}
if dpkg-query -W -f '${Status}' oakley 2>/dev/null | grep -q 'installed\|config-files'; then
	echo "test-deb: FAIL: an oakley package is already on this machine; remove it first (dpkg -P oakley)"
	exit 1
fi
tmp=$(mktemp -d)
installed=
cleanup() {
	local rc=$?
	[ -n "$installed" ] && dpkg -P oakley >/dev/null 2>&1 || true
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
fail() { echo "test-deb: FAIL: $*"; exit 1; }
ok() { echo "test-deb: ok: $*"; }
notrun=()

version=$(dpkg-deb -f "$deb" Version)
[ -z "$(dpkg-deb -f "$deb" Depends)" ] || fail "Depends is not empty"

# Reproducible: the same inputs rebuilt elsewhere give the same bytes.
mkdir "$tmp/rebuild"
cp "$dist/oakley_linux_$arch" "$tmp/rebuild/"
VERSION=${VERSION:?VERSION must be the one the package was built with} \
	"$here/deb/build.sh" "$tmp/rebuild" "$arch" >/dev/null
cmp -s "$deb" "$tmp/rebuild/$(basename "$deb")" || fail "rebuilding $(basename "$deb") gave different bytes"
ok "package reproducible ($(sha256sum <"$deb" | cut -c1-16)...)"

dpkg -i "$deb" >/dev/null
installed=1
ok "dpkg -i $(basename "$deb")"
[ "$(command -v oakley)" = /usr/bin/oakley ] || fail "oakley is not /usr/bin/oakley on PATH"
out=$(oakley version)
[ "$out" = "oakley $VERSION" ] || fail "oakley version said '$out', want 'oakley $VERSION'"
ok "oakley version: $out (package $version)"

IFS=: read -r _ _ uid _ _ home shell < <(getent passwd oakley) || fail "no oakley user"
[ "$uid" -lt 1000 ] && [ "$shell" = /usr/sbin/nologin ] || fail "oakley user uid=$uid shell=$shell: not a system user"
[ "$(stat -c '%U:%G %a' /etc/oakley/secrets)" = "oakley:oakley 700" ] || fail "/etc/oakley/secrets: $(stat -c '%U:%G %a' /etc/oakley/secrets)"
ok "system user oakley (uid $uid, home $home, $shell), /etc/oakley/secrets oakley:oakley 0700"

oakley check -c /etc/oakley/oakley.toml >/dev/null || fail "the shipped /etc/oakley/oakley.toml does not pass oakley check"
ok "oakley check -c /etc/oakley/oakley.toml"
# The commented example, activated as the file's header tells the user to.
mkdir -p "$tmp/conf/secrets"
sed 's/^#~ \{0,1\}//' /etc/oakley/oakley.toml >"$tmp/conf/oakley.toml"
head -c 32 /dev/urandom | base64 >"$tmp/conf/secrets/site-b.psk"
chmod 0600 "$tmp/conf/secrets/site-b.psk"
out=$(oakley check -c "$tmp/conf/oakley.toml") || fail "the uncommented example fails oakley check"
grep -q '(1 connection(s), 1 child(ren)' <<<"$out" || fail "the uncommented example: $out"
chmod 0644 "$tmp/conf/secrets/site-b.psk"
if out=$(oakley check -c "$tmp/conf/oakley.toml" 2>&1); then fail "a group-readable psk_file passed oakley check"; fi
grep -q 'oakley.toml:[0-9]*: .*readable by group/other' <<<"$out" || fail "unexpected refusal: $out"
chmod 0600 "$tmp/conf/secrets/site-b.psk"
ok "the uncommented example passes oakley check; a group-readable psk_file is refused with file:line"

man8=/usr/share/man/man8/oakley.8.gz
zcat "$man8" | grep -q '^\.TH OAKLEY 8 ' || fail "$man8 has no .TH line"
if command -v man >/dev/null && command -v groff >/dev/null; then
	page=$(MANWIDTH=100 man -l "$man8" 2>/dev/null)
	how="man -l"
else
	page=$(zcat "$man8")
	how="zcat (man/groff not installed)"
fi
grep -q 'oakley - userspace IPsec VPN' <<<"$page" || fail "the man page has no NAME line"
hasEntry() { grep -Eq "^ *$1( |\$)|fB$1\\\\fR" <<<"$page"; }
cmds=$(oakley help | sed -n '/^commands:/,/^$/{s/^  \([a-z][a-z-]*\).*/\1/p}')
[ "$(wc -w <<<"$cmds")" -ge 5 ] || fail "could not read the command list of oakley help: '$cmds'"
for cmd in $cmds; do
	hasEntry "$cmd" || fail "the man page has no entry for '$cmd'"
done
! hasEntry frobnicate || fail "negative control: the man page check found a command that does not exist"
ok "man page ($how) has an entry for each of the $(wc -w <<<"$cmds") commands of oakley help"

verify=$(dpkg --verify oakley 2>&1) || true
[ -z "$verify" ] || fail "dpkg --verify: $verify"
ok "dpkg --verify: every file intact"

unit=/lib/systemd/system/oakley.service
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify: $out"
	# Negative control: the same unit with a misspelt option and a missing binary is refused.
	sed -e 's|^ExecStart=/usr/bin/oakley|ExecStart=/usr/bin/oakley-missing|' -e 's|^ProtectHome=|ProtectHomme=|' \
		"$unit" >"$tmp/broken.service"
	out=$(systemd-analyze verify "$tmp/broken.service" 2>&1) && fail "systemd-analyze verify accepted a broken unit"
	grep -q 'oakley-missing' <<<"$out" && grep -q 'ProtectHomme' <<<"$out" || fail "systemd-analyze verify on a broken unit: $out"
	ok "systemd-analyze verify $unit (and it refuses a broken copy)"
else
	notrun+=("systemd-analyze verify (systemd not installed)")
fi
if [ -d /run/systemd/system ]; then
	systemd-analyze security oakley.service --no-pager | tail -1
	ok "systemd-analyze security (above)"
else
	notrun+=("starting the unit under systemd: ProtectSystem, SystemCallFilter, DeviceAllow and the other sandbox options (no running systemd: PID 1 is $(ps -p 1 -o comm= 2>/dev/null || echo unknown))")
fi

# The unit's privilege model without systemd: its User, its capabilities, no_new_privs.
user=$(sed -n 's/^User=//p' "$unit")
caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit")
[ "$caps" = "$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")" ] || fail "AmbientCapabilities and CapabilityBoundingSet differ"
capList() { # "CAP_NET_ADMIN CAP_X" minus one cap -> setpriv's "-all,+net_admin,+x"
	local c out=-all
	for c in $1; do
		[ "$c" = "${2:-}" ] && continue
		c=${c#CAP_}
		out+=",+${c,,}"
	done
	printf '%s\n' "$out"
}
mkdir -p "$tmp/priv/run"
chmod 0755 "$tmp" "$tmp/priv"
chown "$user:" "$tmp/priv/run"
install -d -o "$user" -g "$user" -m 0700 "$tmp/priv/secrets"
install -o "$user" -g "$user" -m 0600 "$tmp/conf/secrets/site-b.psk" "$tmp/priv/secrets/"
sed -e "s|/run/oakley/oakley.sock|$tmp/priv/run/oakley.sock|" -e 's|^# addresses|addresses|' \
	"$tmp/conf/oakley.toml" >"$tmp/priv/oakley.toml"
chmod 0644 "$tmp/priv/oakley.toml"
# runAs CAPS: oakley up in a fresh network namespace for 2 s; prints what it saw.
runAs() {
	unshare -n bash -c '
		ip link set lo up
		setpriv --reuid="$1" --regid="$1" --clear-groups --no-new-privs \
			--inh-caps="$2" --ambient-caps="$2" --bounding-set="$2" \
			-- /usr/bin/oakley up -c "$3/oakley.toml" >"$3/log" 2>&1 &
		pid=$!
		for _ in $(seq 40); do
			[ -S "$3/run/oakley.sock" ] && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.05
		done
		sleep 0.2
		ip -br link show oakley0 2>/dev/null | sed "s/^/link: /"
		ss -Hulnp | grep -o "[0-9.*:\[\]]*:\(500\|4500\) " | sed "s/^/udp: /"
		if kill -TERM $pid 2>/dev/null; then wait $pid; echo "exit: $?"; else wait $pid; echo "died: $?"; fi
	' _ "$user" "$1" "$tmp/priv"
}
out=$(runAs "$(capList "$caps")")
grep -q '^link: oakley0' <<<"$out" || fail "as $user with $caps: no TUN device: $out $(cat "$tmp/priv/log")"
[ "$(grep -c '^udp: .*:500 ' <<<"$out")" -ge 1 ] && [ "$(grep -c '^udp: .*:4500 ' <<<"$out")" -ge 1 ] ||
	fail "as $user with $caps: UDP 500/4500 not bound: $out"
grep -q '^exit: 0' <<<"$out" || fail "as $user with $caps: did not stop cleanly on SIGTERM: $out $(cat "$tmp/priv/log")"
ok "oakley up as $user with only $caps (no_new_privs): TUN oakley0, UDP 500 and 4500, clean stop"
for drop in CAP_NET_ADMIN CAP_NET_BIND_SERVICE; do
	out=$(runAs "$(capList "$caps" "$drop")")
	grep -q '^died: 1' <<<"$out" || fail "without $drop oakley up did not fail: $out"
	ok "negative control: without $drop oakley up fails: $(tail -1 "$tmp/priv/log")"
done

dpkg -r oakley >/dev/null
for f in /usr/bin/oakley "$unit" "$man8" /usr/share/doc/oakley; do
	[ ! -e "$f" ] || fail "$f left after dpkg -r"
done
[ -f /etc/oakley/oakley.toml ] || fail "dpkg -r removed the conffile (it must stay until purge)"
ok "dpkg -r: files gone, conffile kept"
dpkg -P oakley >/dev/null
installed=
[ ! -e /etc/oakley ] || fail "/etc/oakley left after dpkg -P: $(ls -la /etc/oakley)"
! dpkg-query -W oakley >/dev/null 2>&1 || fail "dpkg still knows oakley after purge"
ok "dpkg -P: /etc/oakley gone (the oakley system user stays, as Debian keeps system users)"

for n in "${notrun[@]}"; do echo "test-deb: not exercised: $n"; done
echo "test-deb: PASS"

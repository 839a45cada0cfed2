#!/usr/bin/env bash
# packaging/deb/version.sh GIT_DESCRIBE [EPOCH]: prints the Debian version for a build, one
# that sorts in commit order:
#   v1.2.3            -> 1.2.3
#   v1.2.3-4-gabc1234 -> 1.2.3+git4.gabc1234
#   v1.2.3-rc1        -> 1.2.3~rc1
#   abc1234 (no tag)  -> 0.0~git20260131.gabc1234   (the date of EPOCH, the commit time)
#   ...-dirty         -> ...+dirty                   (built from a modified tree)
# Anything else becomes 0.0~ followed by its characters that Debian allows.
# packaging/deb/version.sh --self-test checks this table.
set -euo pipefail

debVersion() { # GIT_DESCRIBE EPOCH
	local v=$1 dirty=
	case $v in *-dirty) v=${v%-dirty} dirty=+dirty ;; esac
	if [[ $v =~ ^[0-9a-f]{7,40}$ ]]; then # a bare commit hash: no tag reachable
		v="0.0~git$(date -u -d "@$2" +%Y%m%d).g$v"
	elif [[ $v =~ ^v?([0-9]+(\.[0-9]+)*)(-([A-Za-z][0-9A-Za-z.]*))?(-([0-9]+)-g([0-9a-f]+))?$ ]]; then
		local m=("${BASH_REMATCH[@]}")
		v=${m[1]}
		[ -z "${m[4]}" ] || v+="~${m[4]}"                # a pre-release sorts before its release
		[ -z "${m[6]}" ] || v+="+git${m[6]}.g${m[7]}"   # commits after the tag sort after it
	else
		v="0.0~$(printf '%s' "$v" | tr -c '0-9A-Za-z.+~' '.')"
	fi
	printf '%s%s\n' "$v" "$dirty"
}

if [ "${1:-}" = --self-test ]; then
	fails=0
	while read -r in want; do
		got=$(debVersion "$in" 1769817600) # 2026-01-31
		if [ "$got" != "$want" ]; then
			echo "deb version: $in -> $got, want $want"
			fails=1
		fi
	done <<'TABLE'
v1.2.3 1.2.3
1.2.3 1.2.3
v1.2.3-4-gabc1234 1.2.3+git4.gabc1234
v1.2.3-rc1 1.2.3~rc1
v1.2.3-rc1-2-gabc1234 1.2.3~rc1+git2.gabc1234
v2 2
release-x 0.0~release.x
v0.9-12-g0123456-dirty 0.9+git12.g0123456+dirty
abc1234 0.0~git20260131.gabc1234
160cb87 0.0~git20260131.g160cb87
160cb87-dirty 0.0~git20260131.g160cb87+dirty
1234567 0.0~git20260131.g1234567
dev 0.0~dev
TABLE
	# Sorting: a later tag, and a later commit after a tag, sort higher.
	if ! dpkg --compare-versions 1.2.3+git4.gabc1234 gt 1.2.3 ||
		! dpkg --compare-versions 1.2.4 gt 1.2.3+git4.gabc1234 ||
		! dpkg --compare-versions 1.2.3 gt 1.2.3~rc1+git2.gabc1234 ||
		! dpkg --compare-versions 1.2.3~rc1+git2.gabc1234 gt 1.2.3~rc1 ||
		! dpkg --compare-versions 0.0~git20260201.gaaa gt 0.0~git20260131.gfff ||
		! dpkg --compare-versions 0.1 gt 0.0~git20260131.gfff; then
		echo "deb version: ordering broken"
		fails=1
	fi
	[ $fails = 0 ] && echo "deb version: ok: self-test"
	exit $fails
fi
debVersion "${1:?usage: version.sh GIT_DESCRIBE [EPOCH] | --self-test}" "${2:-0}"

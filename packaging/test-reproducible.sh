#!/usr/bin/env bash
# packaging/test-reproducible.sh: builds linux/amd64 the way `make dist` does twice, from the
# tree itself (with .git) and from a copy of its files at another path (without), and requires
# identical bytes: a build path (-trimpath gone) or a VCS stamp (-buildvcs=false gone) would
# differ.
# REPRO_COLD=1 gives the second build an empty build cache (a full compile: about a minute on
# two idle cores, several under load), to show the cache does not matter either.
# Also checks what the release flags promise: a static binary (CGO_ENABLED=0), no build paths
# in it (-trimpath), no VCS stamp, the version from -X (go version -m omits -ldflags under
# -trimpath, so the binary is asked); negative control: a build without -trimpath does contain
# its path, so the path check can fail.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
export VERSION=${VERSION:-$(cd "$root" && git describe --always --dirty 2>/dev/null || echo dev)}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "test-reproducible: FAIL: $*"; exit 1; }

# Build A: this tree, in place (with its .git). Build B: a copy of its files elsewhere.
srcA=$root
srcB=$tmp/b/src-$RANDOM
mkdir -p "$srcB"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$srcB")
start=$SECONDS
"$srcA/packaging/dist.sh" "$tmp/a/out" linux/amd64 >/dev/null
rm -f "$tmp/a/out/.gitignore"
cache=warm
if [ "${REPRO_COLD:-}" = 1 ]; then
	cache=cold
	export GOCACHE=$tmp/b/cache
fi
"$srcB/packaging/dist.sh" "$tmp/b/out" linux/amd64 >/dev/null
unset GOCACHE
a=$tmp/a/out/oakley_linux_amd64 b=$tmp/b/out/oakley_linux_amd64
ha=$(sha256sum <"$a" | cut -d' ' -f1) hb=$(sha256sum <"$b" | cut -d' ' -f1)
[ "$ha" = "$hb" ] || fail "two builds differ: $ha ($srcA) vs $hb ($srcB, $cache cache)"
echo "test-reproducible: ok: two builds (different paths; second with a $cache cache) are identical: $ha ($((SECONDS - start)) s)"

info=$("$GO" version -m "$a")
grep -q 'build	CGO_ENABLED=0' <<<"$info" || fail "not built with CGO_ENABLED=0: $info"
grep -q 'build	-trimpath=true' <<<"$info" || fail "not built with -trimpath: $info"
! grep -q 'vcs\.' <<<"$info" || fail "a VCS stamp is embedded: $info"
[ "$("$a" version)" = "oakley $VERSION" ] || fail "version: $("$a" version)"
grep -q "$srcA" "$a" && fail "the binary contains its build path $srcA"
# Negative control for the path check.
(cd "$srcA" && CGO_ENABLED=0 "$GO" build -buildvcs=false -o "$tmp/untrimmed" ./cmd/oakley)
grep -q "$srcA" "$tmp/untrimmed" || fail "negative control: an untrimmed build does not contain its path, so the path check proves nothing"
echo "test-reproducible: ok: static (CGO_ENABLED=0), -trimpath (no build path inside; an untrimmed build has one), no VCS stamp, version $VERSION"
echo "test-reproducible: PASS"

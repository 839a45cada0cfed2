#!/usr/bin/env bash
# packaging/dist.sh OUTDIR [GOOS/GOARCH ...]
#
# Builds oakley's release binaries into OUTDIR, one per platform (default: every platform
# below), and writes OUTDIR/SHA256SUMS. The builds are static (CGO_ENABLED=0) and reproducible:
# no file paths (-trimpath), no VCS stamp (-buildvcs=false), no build ID (-buildid=), no symbol
# table or DWARF (-s -w); the only varying input is VERSION (default: git describe), so the same
# commit built by the same Go release gives the same bytes on any machine, in any directory.
# packaging/test-reproducible.sh checks that.
#
# Names: oakley_GOOS_GOARCH (oakley_windows_ARCH.exe on Windows).
set -euo pipefail
GO=${GO:-go}
out=${1:?usage: dist.sh OUTDIR [GOOS/GOARCH ...]}
shift
platforms=("$@")
full=
if [ ${#platforms[@]} -eq 0 ]; then
	platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)
	full=1
fi
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The output directory ignores itself, so git status stays clean without a shared .gitignore.
[ -f "$out/.gitignore" ] || echo '*' >"$out/.gitignore"
# A full build starts from an empty OUTDIR, so no stale binary or package is listed.
if [ -n "$full" ]; then rm -f "$out"/oakley_* "$out/SHA256SUMS"; fi
cd "$root"
names=()
for p in "${platforms[@]}"; do
	goos=${p%/*} goarch=${p#*/}
	name=oakley_${goos}_${goarch}
	[ "$goos" = windows ] && name=$name.exe
	# GOAMD64/GOARM64 are pinned to the baseline so a builder's environment cannot change
	# the instruction set (and the bytes); GOFLAGS is set (an empty one would let `go env -w`
	# settings through) to the default -mod=readonly, so no builder's flags slip in either.
	env CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" GOAMD64=v1 GOARM64=v8.0 GOFLAGS=-mod=readonly \
		"$GO" build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X main.version=$VERSION" \
		-o "$out/$name" ./cmd/oakley
	names+=("$name")
done
"$root/packaging/sums.sh" "$out"
echo "dist: $VERSION: ${names[*]} -> $out"

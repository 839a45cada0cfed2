#!/usr/bin/env bash
# packaging/sums.sh DIR: (re)writes DIR/SHA256SUMS over every oakley_* file in DIR (binaries
# from dist.sh, packages from deb/build.sh), sorted by name, in sha256sum's format.
set -euo pipefail
cd "${1:?usage: sums.sh DIR}"
shopt -s nullglob
files=(oakley_*)
if [ ${#files[@]} -eq 0 ]; then
	echo "sums: no oakley_* files in $PWD" >&2
	exit 1
fi
printf '%s\n' "${files[@]}" | LC_ALL=C sort | xargs sha256sum >SHA256SUMS.tmp
mv SHA256SUMS.tmp SHA256SUMS

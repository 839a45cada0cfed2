#!/usr/bin/env bash
# packaging/deb/build.sh DISTDIR ARCH...
#
# Builds oakley_VERSION_ARCH.deb in DISTDIR from DISTDIR/oakley_linux_ARCH (packaging/dist.sh)
# with dpkg-deb alone (no debhelper), then rewrites DISTDIR/SHA256SUMS. ARCH is a Debian
# architecture that is also a GOARCH: amd64, arm64.
#
# Environment: VERSION (git describe; default computed), SOURCE_DATE_EPOCH (file times and the
# man page date; default: the last commit's time), GO. With both fixed, the package is
# byte-for-byte reproducible (packaging/test-deb.sh builds it twice and compares).
set -euo pipefail
GO=${GO:-go}
dist=${1:?usage: build.sh DISTDIR ARCH...}
shift
[ $# -gt 0 ] || { echo "usage: build.sh DISTDIR ARCH..." >&2; exit 2; }
command -v dpkg-deb >/dev/null || { echo "deb: dpkg-deb not found (Debian's dpkg package)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dist=$(cd "$dist" && pwd)
cd "$root"
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH

# The Debian version (sorts in commit order; see version.sh).
debver=$("$here/version.sh" "$VERSION" "$SOURCE_DATE_EPOCH")

# The man page, rendered from the command's own help (the text is the same on every
# architecture, so the host's build renders it for all).
man=$(mktemp)
stage=$(mktemp -d)
trap 'rm -rf "$man" "$stage"' EXIT
"$GO" run ./cmd/oakley help | "$GO" run ./packaging/manpage -version "$VERSION" \
	-date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" >"$man"

for arch in "$@"; do
	bin=$dist/oakley_linux_$arch
	[ -x "$bin" ] || { echo "deb: $bin missing: run packaging/dist.sh first" >&2; exit 1; }
	root_=$stage/$arch
	rm -rf "$root_"
	install -D -m 0755 "$bin" "$root_/usr/bin/oakley"
	install -D -m 0644 "$here/oakley.service" "$root_/lib/systemd/system/oakley.service"
	install -D -m 0644 "$here/oakley.toml" "$root_/etc/oakley/oakley.toml"
	install -d -m 0755 "$root_/usr/share/man/man8" "$root_/usr/share/doc/oakley"
	gzip -9n <"$man" >"$root_/usr/share/man/man8/oakley.8.gz"
	install -m 0644 README.md "$root_/usr/share/doc/oakley/README.md"
	gzip -9n "$root_/usr/share/doc/oakley/README.md"
	GOOS=linux GOARCH=$arch "$here/copyright.sh" >"$root_/usr/share/doc/oakley/copyright"
	chmod 0644 "$root_/usr/share/doc/oakley/copyright"

	install -d -m 0755 "$root_/DEBIAN"
	install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root_/DEBIAN/"
	echo /etc/oakley/oakley.toml >"$root_/DEBIAN/conffiles"
	# md5sums: every file but the conffiles (dpkg checks those through conffiles itself).
	(cd "$root_" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
		sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$root_/DEBIAN/md5sums"
	size=$(du -sk --exclude=DEBIAN "$root_" | cut -f1)
	cat >"$root_/DEBIAN/control" <<CONTROL
Package: oakley
Version: $debver
Architecture: $arch
Maintainer: oakley developers <oakley-dev@example.org>
Installed-Size: $size
Section: net
Priority: optional
Description: userspace IPsec VPN (IKE, ESP and AH) in one static binary
 oakley negotiates IPsec security associations with IKE and carries IP
 packets in ESP or AH (ESP-in-UDP by default) between a TUN device, or an
 in-process network stack when unprivileged, and gateways such as
 strongSwan. One TOML file per site; "oakley check" reports every problem
 as file:line.
 .
 The package installs a hardened systemd unit (not enabled) that runs the
 daemon as the system user "oakley" with CAP_NET_ADMIN and
 CAP_NET_BIND_SERVICE only.
CONTROL
	chmod 0644 "$root_/DEBIAN/control" "$root_/DEBIAN/conffiles" "$root_/DEBIAN/md5sums"
	find "$root_" -type d -exec chmod 0755 {} +
	find "$root_" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	out=$dist/oakley_${debver}_${arch}.deb
	dpkg-deb --root-owner-group -Zxz --build "$root_" "$out" >/dev/null
	echo "deb: $out"
done
"$root/packaging/sums.sh" "$dist"

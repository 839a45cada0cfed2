#!/usr/bin/env bash
# packaging/test-container.sh DISTDIR: builds examples/Dockerfile with podman (Debian's, as
# root) and runs the image: `oakley version`, and `oakley demo` read-only, without any
# capability, as uid 65532, without a network (loopback only). The binary built inside the
# image must equal DISTDIR/oakley_linux_amd64 byte for byte (same VERSION): reproducibility
# across build environments.
#
# CI has no registry access, so the build stage's GO_IMAGE is made locally: an empty image
# with this machine's Go toolchain and a static busybox (/bin/sh for RUN). Modules come from
# this machine's module cache mounted read-only (GOPROXY=off, --network none) and the build
# cache is shared with the host. The final stage, FROM scratch, is exactly what users build.
#
# Container quirks of CI machines, handled here: crun refuses hybrid cgroup hierarchies, so
# runc is used; podman's default RLIMIT_NOFILE/NPROC exceed what an unprivileged container
# host may set, so both are set to 1024.
# Skips with a message when not root or when podman, buildah, runc or busybox are missing.
set -euo pipefail
dist=$(cd "${1:?usage: test-container.sh DISTDIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
skip() { echo "test-container: SKIP: $*"; exit 0; }
fail() { echo "test-container: FAIL: $*"; exit 1; }
ok() { echo "test-container: ok: $*"; }
[ "$(id -u)" = 0 ] || skip "needs root (podman build)"
for t in podman buildah runc busybox; do
	command -v $t >/dev/null || skip "$t not installed (.ci/run installs podman buildah runc busybox-static)"
done
[ "$("$GO" env GOARCH)" = amd64 ] || skip "compares with oakley_linux_amd64; this machine is $("$GO" env GOARCH)"
VERSION=${VERSION:?set VERSION to the one DISTDIR was built with}
tag=oakley-ci-$$
goimage=localhost/$tag-go:latest image=localhost/$tag:latest
tmp=$(mktemp -d)
cleanup() {
	local rc=$?
	podman rmi -f "$image" "$goimage" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
run=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

start=$SECONDS
ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
mkdir -p "$mnt/bin" "$mnt/tmp" "$mnt/usr/local"
chmod 1777 "$mnt/tmp"
cp "$(command -v busybox)" "$mnt/bin/busybox"
ln -s busybox "$mnt/bin/sh"
cp -a "$("$GO" env GOROOT)" "$mnt/usr/local/go"
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/go/bin:/bin --env HOME=/tmp --env GOCACHE=/gocache \
	--env GOMODCACHE=/gomod --env GOPROXY=off --env GOTOOLCHAIN=local "$ctr"
buildah commit -q "$ctr" "$goimage" >/dev/null
buildah rm "$ctr" >/dev/null
ok "local build image $goimage: $("$GO" env GOVERSION) + busybox ($((SECONDS - start)) s)"

start=$SECONDS
podman build "${run[@]}" --network none --layers=false -q \
	-v "$("$GO" env GOMODCACHE):/gomod:ro" -v "$("$GO" env GOCACHE):/gocache" \
	--ignorefile "$root/examples/Dockerfile.dockerignore" -f "$root/examples/Dockerfile" \
	--build-arg GO_IMAGE="$goimage" --build-arg VERSION="$VERSION" -t "$image" "$root" >"$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log"; fail "podman build -f examples/Dockerfile failed"; }
ok "podman build -f examples/Dockerfile ($((SECONDS - start)) s)"

cfg=$(podman image inspect "$image" --format '{{.Config.User}} {{json .Config.Entrypoint}} {{len .RootFS.Layers}}')
[ "$cfg" = '65532:65532 ["/oakley"] 1' ] || fail "image config (user, entrypoint, layers): $cfg"
ok "image: user 65532:65532, entrypoint /oakley, one layer"

id=$(podman create "${run[@]}" "$image")
podman cp "$id:/oakley" "$tmp/oakley" >/dev/null
podman rm "$id" >/dev/null
cmp -s "$tmp/oakley" "$dist/oakley_linux_amd64" ||
	fail "the binary built in the image differs from $dist/oakley_linux_amd64"
ok "the image's /oakley is byte-identical to dist/oakley_linux_amd64"

out=$(podman run "${run[@]}" --rm --network none "$image" version) || fail "oakley version in the image: $out"
[ "$out" = "oakley $VERSION" ] || fail "oakley version in the image said '$out'"
ok "podman run $image version: $out"
out=$(podman run "${run[@]}" --rm --network none --read-only --cap-drop ALL \
	--security-opt no-new-privileges "$image" demo 2>&1) || { echo "$out"; fail "oakley demo in the image failed"; }
grep -q '^demo OK' <<<"$out" || { echo "$out"; fail "oakley demo in the image: no 'demo OK'"; }
ok "podman run --read-only --cap-drop ALL (uid 65532, loopback only) $image demo: $(grep '^demo OK' <<<"$out")"
echo "test-container: PASS"

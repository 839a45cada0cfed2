#!/usr/bin/env bash
# packaging/deb/copyright.sh: prints /usr/share/doc/oakley/copyright for the binary built for
# GOOS/GOARCH from this tree: oakley itself, then the Go runtime and standard library and
# every module linked into the binary, each with its license text from the module cache. The
# list comes from `go list -deps`, so it follows go.mod without anyone editing it.
set -euo pipefail
GO=${GO:-go}
cd "$(dirname "$0")/../.."
cat <<'HEAD'
oakley: userspace IPsec VPN

/usr/bin/oakley is a static Go binary. It contains oakley, the Go runtime and standard
library, and the Go modules listed below, each followed by its license.

oakley
  Copyright: the oakley authors.
  License: the oakley source tree does not state a license yet.
HEAD
licenseOf() { # DIR: the license file of a module directory
	local f
	for f in LICENSE LICENSE.txt LICENSE.md COPYING; do
		if [ -f "$1/$f" ]; then
			printf '%s\n' "$1/$f"
			return
		fi
	done
	return 1
}
emit() { # NAME VERSION FILE
	printf '\n========================================================================\n'
	printf '%s %s\n========================================================================\n\n' "$1" "$2"
	cat "$3"
}
emit "Go (runtime and standard library)" "$("$GO" env GOVERSION)" "$("$GO" env GOROOT)/LICENSE"
"$GO" list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' ./cmd/oakley |
	LC_ALL=C sort -u | while read -r path version dir; do
	lic=$(licenseOf "$dir") || { echo "copyright: no license file in $dir" >&2; exit 1; }
	emit "$path" "$version" "$lic"
done

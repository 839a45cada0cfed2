#!/usr/bin/env bash
# `make fuzz`: every Fuzz target of every package, one after the other, each for FUZZTIME
# (default 10000000x: ten million executions, Go's count form of -fuzztime) or, for the
# slower state-machine and Diffie-Hellman targets matched by FUZZ_SLOW, FUZZTIME_SLOW
# (default 30m). It writes one line per target to FUZZ_COUNTS (default fuzz-counts.txt):
#
#   package target executions seconds new-interesting result
#
# A target that finds a crasher fails; Go has then written the input to the package's
# testdata/fuzz/FuzzXxx/, where it stays as a regression seed (commit it with the fix). The
# script goes on with the other targets and lists the new seed files at the end.
# FUZZ_ONLY (a regular expression on "package target") narrows the run; FUZZ_MAX (e.g. 10m)
# stops a target after that long whatever its count (result "capped": the count is the last
# one Go reported); FUZZ_PARALLEL sets the fuzzing workers (Go's default: GOMAXPROCS);
# FUZZ_MINIMIZE caps the minimization of each new interesting input (Go's -fuzzminimizetime,
# default 60s): a target whose inputs grow large can spend most of its time there.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10000000x}
FUZZTIME_SLOW=${FUZZTIME_SLOW:-30m}
FUZZ_SLOW=${FUZZ_SLOW:-'^(FuzzResponder|FuzzInitiator|FuzzPhase2|FuzzSharedSecret)$'}
FUZZ_COUNTS=${FUZZ_COUNTS:-fuzz-counts.txt}
FUZZ_ONLY=${FUZZ_ONLY:-.}
FUZZ_MAX=${FUZZ_MAX:-}
par=()
[ -n "${FUZZ_PARALLEL:-}" ] && par=(-parallel "$FUZZ_PARALLEL")
[ -n "${FUZZ_MINIMIZE:-}" ] && par+=(-fuzzminimizetime "$FUZZ_MINIMIZE")
cap=()
[ -n "$FUZZ_MAX" ] && cap=(timeout --signal=INT --kill-after=30s "$FUZZ_MAX")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
before=$(git status --porcelain -- '*/testdata/fuzz/*' | sort)
: >"$FUZZ_COUNTS"
failed=0
for pkg in $($GO list ./...); do
	for f in $($GO test -list 'Fuzz.*' "$pkg" 2>/dev/null | grep '^Fuzz'); do
		echo "$pkg $f" | grep -Eq -- "$FUZZ_ONLY" || continue
		t=$FUZZTIME
		if echo "$f" | grep -Eq -- "$FUZZ_SLOW"; then t=$FUZZTIME_SLOW; fi
		echo "== $pkg $f (-fuzztime $t)"
		start=$(date +%s)
		"${cap[@]}" $GO test "$pkg" -timeout 0 "${par[@]}" -run '^$' -fuzz "^$f\$" -fuzztime "$t" >"$log" 2>&1
		rc=$?
		secs=$(( $(date +%s) - start ))
		last=$(grep -Eo 'execs: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
		new=$(grep -Eo 'new interesting: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
		result=ok
		if [ $rc -eq 124 ] || { [ -n "$FUZZ_MAX" ] && [ $rc -ne 0 ] && ! grep -q -- '--- FAIL' "$log"; }; then
			result=capped
		elif [ $rc -ne 0 ]; then
			result=FAIL
			failed=1
			tail -30 "$log"
		fi
		printf '%s %s %s %s %s %s\n' "$pkg" "$f" "${last:-0}" "$secs" "${new:-0}" "$result" | tee -a "$FUZZ_COUNTS"
	done
done
after=$(git status --porcelain -- '*/testdata/fuzz/*' | sort)
if [ "$before" != "$after" ]; then
	echo "new fuzz inputs (regression seeds; commit them with the fix):"
	comm -13 <(echo "$before") <(echo "$after")
fi
echo "execution counts: $FUZZ_COUNTS"
exit $failed

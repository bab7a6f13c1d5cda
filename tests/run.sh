#!/bin/sh
# tests/run.sh — every suite, as `make test` runs it:
#   1. unit tests and fuzz-corpus replays on the host board (glibc, ASan/UBSan)
#   2. lint (needs the host board's generated config.h)
#   3. integration tests (pytest) against the static binary of the x86_64 board
# The last line sums them: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
JOBS=${JOBS:-2}
passed=0
failed=0
log=output/test-logs
mkdir -p "$log"

add() {	# add "<label>: N passed, N failed" counts from a summary line
	p=$(printf '%s\n' "$1" | sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p')
	f=$(printf '%s\n' "$1" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
}

echo "== build: host board (unit tests, sanitizers)"
if make -s -j"$JOBS" BOARD=host all unit-bins fuzz-replay-bins >"$log/build-host.log" 2>&1; then
	sh tests/run-unit.sh output/host 2>&1 | tee "$log/unit.log" | tail -n 15
	line=$(tail -n 1 "$log/unit.log")
	case "$line" in
	*passed*) add " $line" ;;
	*) echo "unit: no summary"; failed=$((failed + 1)) ;;
	esac
else
	tail -n 30 "$log/build-host.log"
	echo "unit: build failed"
	failed=$((failed + 1))
fi

echo "== lint (format, cppcheck, layering, prefixes)"
if sh tools/lint.sh >"$log/lint.log" 2>&1; then
	passed=$((passed + 1))
else
	tail -n 20 "$log/lint.log"
	failed=$((failed + 1))
fi
tail -n 1 "$log/lint.log"

echo "== build: x86_64 board (static musl binary)"
if make -s -j"$JOBS" BOARD=x86_64 all >"$log/build-x86_64.log" 2>&1; then
	TERN_BIN=$PWD/output/x86_64/tern $PY -m pytest -q -p no:cacheprovider \
		tests/integ 2>&1 | tee "$log/integ.log" | tail -n 40
	line=$(grep -E '(passed|failed|error).* in [0-9.]+s' "$log/integ.log" | tail -n 1)
	case "$line" in
	*passed*|*failed*) add " $line"
		e=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9][0-9]*\) error.*/\1/p')
		failed=$((failed + ${e:-0})) ;;
	*) echo "integ: no summary"; failed=$((failed + 1)) ;;
	esac
else
	tail -n 30 "$log/build-x86_64.log"
	echo "integ: build failed"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

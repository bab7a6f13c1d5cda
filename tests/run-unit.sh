#!/bin/sh
# tests/run-unit.sh O — run tern's unit test programs (O/tests/unit/test_*)
# and fuzz replay runners (O/tests/fuzz/replay_NAME over
# tests/fuzz/corpus/NAME), built by `make BOARD=host unit-bins
# fuzz-replay-bins`. Counts single test cases: each cmocka test, each
# replayed corpus file. A program that dies or leaks after its tests
# counts one more failure. Prints a line per program, the details of
# failures, and as its last line: "unit: N passed, N failed".
# Exit status 0 only when nothing failed.
set -u

O=${1:?usage: tests/run-unit.sh OUTPUT_DIR (e.g. output/host)}
top=$(cd "$(dirname "$0")/.." && pwd)
case $O in
/*) ;;
*) O=$(pwd)/$O ;;
esac
cd "$top" || exit 1

passed=0
failed=0
programs=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$O"/tests/unit/test_*; do
	case $t in
	*.o | *.d) continue ;;
	esac
	[ -f "$t" ] && [ -x "$t" ] || continue
	programs=$((programs + 1))
	"$t" >"$log" 2>&1
	rc=$?
	run=$(grep -c '^\[ RUN      \]' "$log")
	ok=$(grep -c '^\[       OK \]' "$log")
	bad=$((run - ok))
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1	# died outside a test, or LeakSanitizer at exit
	fi
	echo "${t##*/}: $ok passed, $bad failed"
	if [ "$bad" -ne 0 ]; then
		grep -v -e '^\[ RUN      \]' -e '^\[       OK \]' "$log" | \
			sed 's/^/    /' | head -n 60
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
done

for r in "$O"/tests/fuzz/replay_*; do
	case $r in
	*.o | *.d) continue ;;
	esac
	[ -f "$r" ] && [ -x "$r" ] || continue
	programs=$((programs + 1))
	name=${r##*/replay_}
	if [ ! -d "tests/fuzz/corpus/$name" ]; then
		echo "replay $name: no corpus tests/fuzz/corpus/$name"
		failed=$((failed + 1))
		continue
	fi
	"$r" "tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	last=$(tail -n 1 "$log")
	p=$(printf '%s\n' "$last" | sed -n 's/^replay .*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(printf '%s\n' "$last" | sed -n 's/^replay .*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	if [ -z "$p" ] || [ -z "$f" ]; then
		p=0
		f=1
		echo "replay $name: no summary (exit $rc)"
	else
		echo "$last"
	fi
	if [ "$f" -ne 0 ]; then
		grep -v '^replay ' "$log" | sed 's/^/    /' | head -n 60
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

if [ "$programs" -eq 0 ]; then
	echo "no test programs under $O/tests (make BOARD=host unit-bins fuzz-replay-bins)"
	failed=$((failed + 1))
fi

echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

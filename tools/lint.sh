#!/bin/sh
# tools/lint.sh — the checks of STYLE.md that a machine can make:
#   format     clang-format (.clang-format) leaves src/ as it is
#   cppcheck   no warnings (warning, portability, performance)
#   layering   a part includes only its own headers and the one header of
#              a lower part (core <- net <- conf <- tls <- sasl, queue <-
#              route, dsn <- deliver, smtp <- admin <- main)
#   prefixes   every function carries its file's prefix; none uses a
#              prefix that musl, lwIP or mbedTLS owns
#   ifdef      no #if/#ifdef in .c files (Kconfig removes whole files)
# Prints one line per problem and "lint: N problems"; exits non-zero if any.
set -u
cd "$(dirname "$0")/.."
n=0
problem() { echo "$1"; n=$((n + 1)); }

files=$(find src -name '*.[ch]' | sort)

if command -v clang-format >/dev/null; then
	for f in $files; do
		clang-format "$f" | cmp -s - "$f" || problem "$f: format (clang-format -i $f)"
	done
else
	problem "clang-format not installed"
fi

if command -v cppcheck >/dev/null; then
	out=$(cppcheck -q --std=c11 --enable=warning,portability,performance \
		--inline-suppr --suppress=missingIncludeSystem \
		-D__GNUC__ -Isrc -Ioutput/host/include src 2>&1)
	[ -n "$out" ] && problem "cppcheck: $out"
else
	problem "cppcheck not installed"
fi

# which parts each part may include (besides its own and core)
allowed() {
	case $1 in
	core) echo "" ;;
	net) echo "" ;;
	conf) echo "net" ;;
	tls) echo "conf net" ;;
	sasl) echo "conf net tls" ;;
	queue) echo "conf" ;;
	route) echo "conf net queue" ;;
	dsn) echo "conf net queue route" ;;
	deliver) echo "conf net queue route dsn sasl tls" ;;
	smtp) echo "conf net queue route tls sasl" ;;
	admin) echo "conf net queue route deliver smtp tls sasl" ;;
	*) echo "*" ;;
	esac
}
for f in $files; do
	part=$(echo "$f" | cut -d/ -f2)
	case $part in *.c|*.h) part=main ;; esac
	ok=$(allowed "$part")
	grep -n '^#include "' "$f" | while IFS= read -r line; do
		inc=$(echo "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
		ipart=${inc%%/*}
		[ "$ipart" = "$inc" ] && continue	# generated config.h etc.
		[ "$ipart" = "$part" ] || [ "$ipart" = core ] || [ "$ok" = "*" ] ||
			echo " $ok " | grep -q " $ipart " ||
			echo "$f: ${line%%:*}: part $part may not include $inc"
		if [ "$ipart" != "$part" ] && [ "$inc" != "$ipart/$ipart.h" ] &&
			[ "${inc##*/}" != mbedtls_config.h ]; then
			echo "$f: ${line%%:*}: include $ipart/$ipart.h, not $inc"
		fi
	done
done > output/lint-layering.txt 2>/dev/null || true
while IFS= read -r l; do problem "$l"; done < output/lint-layering.txt

# function definitions: a line "name(" at column 0 in a .c file
for f in $(find src -name '*.c' | sort); do
	base=$(basename "$f" .c)
	prefix=${base%%_*}
	grep -n '^[a-z_][a-z0-9_]*(' "$f" | while IFS= read -r line; do
		fn=$(echo "$line" | sed 's/^[0-9]*:\([a-z0-9_]*\)(.*/\1/')
		case $fn in
		main|fatal|panic|mbedtls_hardware_poll) continue ;;
		esac
		case $fn in
		"$prefix"_*) ;;
		*) echo "$f: ${line%%:*}: $fn() lacks the prefix ${prefix}_" ;;
		esac
		case $fn in
		dns_*|mem_*|sys_*|tcp_*|udp_*|ip_*|netif_*|pbuf_*|stats_*|lwip_*|mbedtls_*|psa_*|res_*|dn_*|ns_*|sched_*)
			echo "$f: ${line%%:*}: $fn() uses a prefix another library owns" ;;
		esac
	done
	grep -n '^#[ \t]*if' "$f" | sed "s|^|$f: |; s|\$| (no #if in .c files)|"
done > output/lint-names.txt
while IFS= read -r l; do problem "$l"; done < output/lint-names.txt

echo "lint: $n problems"
[ "$n" -eq 0 ]

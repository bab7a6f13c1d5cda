#!/bin/sh
# tools/install-deps.sh [--tests] — install, from Debian's package registry,
# what building tern needs (and with --tests, what its test suites need).
# Run as root on Debian 12. Third-party source code is not installed here:
# the build fetches Debian source packages into dl/ and checks them.
set -eu
build="make gcc libc6-dev binutils file ca-certificates dpkg-dev
	debian-archive-keyring xz-utils bzip2 linux-libc-dev python3
	python3-kconfiglib"
tests="python3-pytest python3-aiosmtpd swaks libnet-ssleay-perl
	libcmocka-dev clang-14 libclang-rt-14-dev clang-format cppcheck
	dnsmasq-base openssl curl msmtp libauthen-ntlm-perl"
want=$build
[ "${1:-}" = --tests ] && want="$build $tests"
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null

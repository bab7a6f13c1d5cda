# shellcheck shell=bash
# shellcheck disable=SC2034 # PIN_* and DEPS_* are results for the callers
#
# Shared by tools/deps/fetch and tools/deps/unpack: reading the pins and
# checking what is in dl/.  Sourced, not run.
#
# Trust chain: a pinned package's .dsc and orig tarball are checked against
# the sha256 values in tools/deps/pins; every other file (debian tarball,
# upstream signature) against the Checksums-Sha256 field of that .dsc.  A
# fallback version (the pin has left the mirror) is trusted through apt, which
# checked its files against the signed archive index; its .dsc sha256 is then
# recorded in dl/NAME.fallback so later offline runs can check it again.
#
# Environment: DEPS_PINS (default tools/deps/pins), DEPS_DL (default dl/ at
# the top of the tree).

DEPS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPS_PINS=$(realpath -m "${DEPS_PINS:-$DEPS_TOP/tools/deps/pins}")
DEPS_DL=$(realpath -m "${DEPS_DL:-$DEPS_TOP/dl}")
DEPS_PROG=${0##*/}

deps_die()
{
	printf '%s: error: %s\n' "$DEPS_PROG" "$*" >&2
	exit 1
}

deps_note()
{
	printf '%s: %s\n' "$DEPS_PROG" "$*" >&2
}

deps_need()
{
	local pkg=$1 file=$2

	[ -e "$file" ] || deps_die "$file missing: apt-get install $pkg"
}

# deps_pin NAME: sets PIN_VERSION PIN_ORIG PIN_ORIG_SHA PIN_DSC_SHA.
deps_pin()
{
	local name=$1 n v o os ds extra

	[ -r "$DEPS_PINS" ] || deps_die "cannot read $DEPS_PINS"
	while read -r n v o os ds extra; do
		[ "$n" = "$name" ] || continue
		if [ -z "$ds" ] || [ -n "$extra" ] ||
		   ! [[ $os =~ ^[0-9a-f]{64}$ && $ds =~ ^[0-9a-f]{64}$ ]]; then
			deps_die "$DEPS_PINS: malformed line for $name"
		fi
		PIN_VERSION=$v PIN_ORIG=$o PIN_ORIG_SHA=$os PIN_DSC_SHA=$ds
		return 0
	done < "$DEPS_PINS"
	deps_die "$name is not pinned in $DEPS_PINS"
}

# deps_dsc_name NAME VERSION: the .dsc file name (no epoch in file names).
deps_dsc_name()
{
	printf '%s_%s.dsc\n' "$1" "${2#*:}"
}

deps_sha256()
{
	local sum

	sum=$(sha256sum < "$1") || return 1
	printf '%s\n' "${sum%% *}"
}

# deps_dsc_files DSC: "sha256 name" for each file the .dsc lists.
deps_dsc_files()
{
	sed -n '/^Checksums-Sha256:/,/^[^ ]/{/^ /p}' "$1" |
		while read -r sum _size file; do
			printf '%s %s\n' "$sum" "$file"
		done
}

# deps_check_file FILE WANT MODE: 0 if FILE exists with sha256 WANT.  MODE
# strict makes a mismatch fatal; quiet only notes it (and returns 1).
deps_check_file()
{
	local file=$1 want=$2 mode=$3 have

	[ -f "$file" ] || return 1
	have=$(deps_sha256 "$file") || deps_die "cannot read $file"
	[ "$have" = "$want" ] && return 0
	if [ "$mode" = strict ]; then
		deps_die "sha256 mismatch: $file: expected $want, got $have"
	fi
	deps_note "sha256 mismatch: $file (will download again)"
	return 1
}

# deps_check_dsc DSC MODE: the .dsc's listed files are all present and match.
deps_check_dsc()
{
	local dsc=$1 mode=$2 sum file n=0

	while read -r sum file; do
		case $file in
		''|.*|*/*)
			deps_die "$dsc: unexpected file name '$file'" ;;
		esac
		[[ $sum =~ ^[0-9a-f]{64}$ ]] || deps_die "$dsc: bad sha256 for $file"
		if ! [ -f "$DEPS_DL/$file" ] && [ "$mode" = strict ]; then
			deps_die "$DEPS_DL/$file: missing after download"
		fi
		deps_check_file "$DEPS_DL/$file" "$sum" "$mode" || return 1
		n=$((n + 1))
	done < <(deps_dsc_files "$dsc")
	[ "$n" -gt 0 ] || deps_die "$dsc: no Checksums-Sha256 field"
}

# deps_check_pinned NAME MODE: the pinned version is complete in dl/.
deps_check_pinned()
{
	local name=$1 mode=$2 dsc

	dsc=$DEPS_DL/$(deps_dsc_name "$name" "$PIN_VERSION")
	deps_check_file "$dsc" "$PIN_DSC_SHA" "$mode" || return 1
	if ! deps_dsc_files "$dsc" | cut -d' ' -f2 | grep -qxF "$PIN_ORIG"; then
		deps_die "$dsc does not list $PIN_ORIG (check $DEPS_PINS)"
	fi
	deps_check_file "$DEPS_DL/$PIN_ORIG" "$PIN_ORIG_SHA" "$mode" || return 1
	deps_check_dsc "$dsc" "$mode" || return 1
	DEPS_DSC=$dsc DEPS_VERSION=$PIN_VERSION DEPS_FALLBACK=
}

# deps_check_fallback NAME MODE: a recorded fallback for the current pin is
# complete in dl/.
deps_check_fallback()
{
	local name=$1 mode=$2 rec=$DEPS_DL/$1.fallback pinned used sha dsc

	[ -f "$rec" ] || return 1
	read -r pinned used sha < "$rec" || return 1
	[ "$pinned" = "$PIN_VERSION" ] || return 1
	dsc=$DEPS_DL/$(deps_dsc_name "$name" "$used")
	deps_check_file "$dsc" "$sha" "$mode" || return 1
	deps_check_dsc "$dsc" "$mode" || return 1
	DEPS_DSC=$dsc DEPS_VERSION=$used DEPS_FALLBACK=1
}

# deps_resolve NAME: sets DEPS_DSC, DEPS_VERSION and DEPS_FALLBACK from what
# dl/ holds, without network access; 1 if dl/ is incomplete.
deps_resolve()
{
	deps_pin "$1"
	deps_check_pinned "$1" quiet || deps_check_fallback "$1" quiet
}

# deps_warn_fallback NAME USED_VERSION: the loud warning.
deps_warn_fallback()
{
	local name=$1 used=$2 dsc line rel=older

	dsc=$DEPS_DL/$(deps_dsc_name "$name" "$used")
	dpkg --compare-versions "$used" gt "$PIN_VERSION" && rel=newer
	line=$(deps_dsc_files "$dsc" | awk -v n="$name" -v v="$used" \
		-v d="$(deps_sha256 "$dsc")" '
		$2 ~ /\.orig\.tar\.[a-z0-9]+$/ {
			printf "%s %s %s %s %s", n, v, $2, $1, d }')
	{
		echo '************************************************************'
		echo "WARNING: $name $PIN_VERSION, pinned in tools/deps/pins, is not"
		echo "WARNING: available from the mirror.  Using $name $used ($rel)."
		echo "WARNING: Its files were checked against its .dsc, which apt"
		echo "WARNING: checked against the signed archive index, NOT"
		echo "WARNING: against the pins.  Review it, then pin it:"
		echo "WARNING:   $line"
		echo '************************************************************'
	} | sed "s/^/$DEPS_PROG: /" >&2
}

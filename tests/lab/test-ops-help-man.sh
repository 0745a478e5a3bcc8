#!/bin/bash
# test-ops-help-man.sh: each program's --help and its man page agree on the options.
#
# For wlb-clientgw, wlb-redirector, wlb-replicad, wlb-rules and wlbctl (built in
# $LAB_BUILDDIR/src, pages in man/):
#   - "--help" exits 0 and prints its options on stdout;
#   - every option line of --help ("  -c, --config=FILE   text", "      --syslog
#     text") has a tag in the man page's OPTIONS section (the line after .TP,
#     e.g. ".BR \-c \", \" \-\-config =\fIFILE\fR") naming the same short and long
#     options with the same argument, and every tag there is an option of --help;
#   - every long option mentioned anywhere in OPTIONS, and every option in the
#     SYNOPSIS, is one --help prints, and every option of --help is in the SYNOPSIS.
# The comparison strips roff escapes, quotes and spaces: "-c,--config=FILE".
# --help is the source of truth: a mismatch is fixed in the man page, unless the
# page documents an option the program has and its --help forgot.
#
# No root, no network.  Exit: 0 pass, 1 fail, 77 skip.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=check.sh
. "$here/check.sh"
srcdir=$(cd "$here/../.." && pwd)
builddir=${LAB_BUILDDIR:-$srcdir}
PROGRAMS="wlb-clientgw wlb-redirector wlb-replicad wlb-rules wlbctl"

for p in $PROGRAMS; do
	[ -x "$builddir/src/$p" ] || skip "$builddir/src/$p is not built"
done


# help_specs: option lines of --help on stdin -> "-c,--config=FILE", one a line.
help_specs() {
	sed -n 's/^[[:space:]]\{1,\}\(-[^[:space:]].*\)$/\1/p' |
		sed 's/ \{2,\}.*//; s/[[:space:]]//g'
}

# roff_norm: roff text -> plain, without font escapes, quotes or spaces.
roff_norm() {
	sed -e 's/^\.[A-Z][A-Z]*[[:space:]]*//' -e 's/\\f[BIRP]//g; s/\\f(..//g; s/\\f\[[^]]*\]//g' \
		-e 's/\\-/-/g; s/\\(em//g; s/\\&//g; s/"//g; s/[[:space:]]//g'
}

# section MANPAGE NAME: the lines of section NAME (between .SH NAME and the next .SH).
section() {
	awk -v name="$2" '/^\.SH/ { s = $0; sub(/^\.SH[ \t]+/, "", s); gsub(/"/, "", s); on = (s == name); next } on' "$1"
}

# man_tags MANPAGE: the OPTIONS tags (line after .TP), normalized.
man_tags() {
	section "$1" OPTIONS | awk 'tp { print; tp = 0; next } /^\.TP/ { tp = 1 }' | roff_norm
}

# names SPEC...: "-c,--config=FILE" -> "-c --config"
names() {
	printf '%s\n' "$@" | tr ',' '\n' | sed 's/=.*//; s/\[.*//' | grep -E '^-' | sort -u
}

# opts_in TEXT (on stdin, roff): every -x and --long option mentioned.
opts_in() {
	sed -e 's/\\f[BIRP]//g; s/\\-/-/g; s/"/ /g' |
		grep -oE '(^|[^A-Za-z0-9-])--?[A-Za-z0-9][A-Za-z0-9-]*' | sed 's/^[^-]*//' |
		grep -vE '^-[0-9]+$' | sort -u
}

for p in $PROGRAMS; do
	page="$srcdir/man/$p.8"
	if [ ! -f "$page" ]; then
		fail "$p: no man page $page"
		continue
	fi
	help=$("$builddir/src/$p" --help 2>/dev/null)
	rc=$?
	[ "$rc" = 0 ] || fail "$p --help exits $rc (expected 0)"
	[ -n "$help" ] || { fail "$p --help prints nothing on stdout"; continue; }

	mapfile -t hspecs < <(printf '%s\n' "$help" | help_specs)
	mapfile -t mspecs < <(man_tags "$page")
	[ "${#hspecs[@]}" -gt 0 ] || { fail "$p --help: no option lines found"; continue; }
	[ "${#mspecs[@]}" -gt 0 ] || { fail "$p: no .TP tags in the OPTIONS section of $page"; continue; }
	bad=0

	# each --help option: a tag with the same names and argument
	for hs in "${hspecs[@]}"; do
		found=""
		for ms in "${mspecs[@]}"; do [ "$ms" = "$hs" ] && found=1 && break; done
		[ -n "$found" ] && continue
		bad=1
		# same names, another spelling or argument?
		hn=$(names "$hs" | tr '\n' ' ')
		near=""
		for ms in "${mspecs[@]}"; do
			for n in $hn; do grep -qxF -- "$n" <<<"$(names "$ms")" && near=$ms && break 2; done
		done
		if [ -n "$near" ]; then
			fail "$p: --help has '$hs' but man/$p.8 OPTIONS has '$near'"
		else
			fail "$p: option '$hs' of --help is not documented in the OPTIONS section of man/$p.8"
		fi
	done
	# each tag: an option of --help
	for ms in "${mspecs[@]}"; do
		found=""
		for hs in "${hspecs[@]}"; do [ "$ms" = "$hs" ] && found=1 && break; done
		[ -n "$found" ] && continue
		mn=$(names "$ms" | tr '\n' ' ')
		near=""
		for hs in "${hspecs[@]}"; do
			for n in $mn; do grep -qxF -- "$n" <<<"$(names "$hs")" && near=$hs && break 2; done
		done
		[ -n "$near" ] && continue # reported above
		bad=1
		fail "$p: man/$p.8 OPTIONS documents '$ms', which --help does not print"
	done

	hnames=$(names "${hspecs[@]}")
	tnames=$(names "${mspecs[@]}")
	# long options mentioned anywhere in OPTIONS (a tag's own are checked above)
	for o in $(section "$page" OPTIONS | opts_in | grep -E '^--'); do
		grep -qxF -- "$o" <<<"$hnames"$'\n'"$tnames" && continue
		bad=1
		fail "$p: man/$p.8 OPTIONS mentions '$o', which --help does not print"
	done
	# SYNOPSIS <-> --help
	snames=$(section "$page" SYNOPSIS | opts_in)
	for o in $snames; do
		grep -qxF -- "$o" <<<"$hnames" && continue
		bad=1
		fail "$p: man/$p.8 SYNOPSIS has '$o', which --help does not print"
	done
	for o in $hnames; do
		grep -qxF -- "$o" <<<"$snames" && continue
		bad=1
		fail "$p: option '$o' of --help is missing from the SYNOPSIS of man/$p.8"
	done

	[ "$bad" = 0 ] && ok "$p: --help and man/$p.8 agree: $(printf '%s ' "${hspecs[@]}")"
done

if [ "$fails" -gt 0 ]; then
	echo "test-ops-help-man: $fails mismatch(es)" >&2
	exit 1
fi
echo "test-ops-help-man: all checks passed"
exit 0

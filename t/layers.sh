#!/bin/sh
# The kernel's layers depend one way (docs/architecture.md, "Layers"): a file includes
# only headers of its own folder and of the layers its folder may use. Plugins include
# only the SDK and their own headers; the SDK only itself. Headers include no circle.
#
#   t/layers.sh [ROOT [BUILDDIR]]   check the tree at ROOT (default: this checkout)
#
# With a build (BUILDDIR, or $MCPFED_BUILDDIR under make check) the objects are checked
# too: a function a layer calls must be defined in a layer it may use, which catches a
# declaration written by hand where no include shows it; and every symbol a kernel file
# shares with the others carries the mf_ prefix.
#
# Run with no argument it first proves that it catches a violation, on a copy.
set -u
root=${1:-$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)}

# may_use LAYER: the layers whose headers LAYER may include (itself included)
may_use() {
	case $1 in
	runtime) echo "runtime" ;;
	config) echo "runtime config" ;;
	supervision) echo "runtime supervision" ;;
	hosting) echo "runtime config hosting" ;;
	federation) echo "runtime config supervision hosting federation" ;;
	control) echo "runtime config supervision hosting federation control" ;;
	main) echo "runtime config supervision hosting federation control" ;;
	*) echo "" ;;
	esac
}

check() {
	top=$1
	bad=0
	map=$(mktemp) || exit 99
	# header name -> layer
	for h in "$top"/kernel/*/*.h; do
		[ -e "$h" ] || continue
		l=${h%/*}; l=${l##*/}
		printf '%s %s\n' "${h##*/}" "$l"
	done > "$map"
	for layer_dir in "$top"/kernel/*/; do
		layer=${layer_dir%/}; layer=${layer##*/}
		if [ -z "$(may_use "$layer")" ]; then
			echo "kernel/$layer: a folder no layer rule names (add it to t/layers.sh and docs/architecture.md)"
			bad=1
		fi
	done
	for f in "$top"/kernel/*/*.[ch] "$top"/kernel/main.c; do
		[ -e "$f" ] || continue
		rel=${f#"$top"/}
		case $rel in kernel/main.c) layer=main ;; *) layer=${rel#kernel/}; layer=${layer%%/*} ;; esac
		allowed=" $(may_use "$layer") "
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
			case $inc in build-config.h|mcpfed/*) continue ;; esac
			to=$(awk -v h="$inc" '$1 == h { print $2 }' "$map")
			if [ -z "$to" ]; then
				echo "$rel: includes \"$inc\", which is no kernel or SDK header"
				bad=1
			elif [ "${allowed#* $to }" = "$allowed" ]; then
				echo "$rel: the $layer layer includes \"$inc\" of the $to layer"
				bad=1
			fi
		done
	done
	for f in "$top"/plugins/*/*.[ch]; do
		[ -e "$f" ] || continue
		dir=${f%/*}
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
			case $inc in build-config.h|mcpfed/*) continue ;; esac
			if [ ! -e "$dir/$inc" ]; then
				echo "${f#"$top"/}: a plugin includes \"$inc\", neither its own header nor the SDK's"
				bad=1
			fi
		done
	done
	for f in "$top"/sdk/mcpfed/*.h "$top"/sdk/mcpfed/*.h.in; do
		[ -e "$f" ] || continue
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
			case $inc in mcpfed/*) continue ;; esac
			echo "${f#"$top"/}: the SDK includes \"$inc\""
			bad=1
		done
	done
	# no circle among the kernel's headers
	edges=$(mktemp) || exit 99
	for h in "$top"/kernel/*/*.h; do
		[ -e "$h" ] || continue
		printf '%s %s\n' "${h##*/}" "${h##*/}"
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$h"); do
			printf '%s %s\n' "${h##*/}" "$inc"
		done
	done > "$edges"
	if ! tsort "$edges" >/dev/null 2>&1; then
		echo "kernel headers include each other in a circle:"
		tsort "$edges" 2>&1 >/dev/null | sed 's/^/  /'
		bad=1
	fi
	rm -f "$map" "$edges"
	return $bad
}

# calls: every kernel symbol an object takes must come from a layer its folder may use
check_calls() {
	build=$1
	bad=0
	defs=$(mktemp) || exit 99
	for o in "$build"/kernel/*/.libs/*.o; do
		[ -e "$o" ] || continue
		l=${o%/.libs/*}; l=${l##*/}
		nm --defined-only -g "$o" | awk -v l="$l" 'NF == 3 { print $3, l }'
	done > "$defs"
	for o in "$build"/kernel/*/.libs/*.o; do
		[ -e "$o" ] || continue
		l=${o%/.libs/*}; l=${l##*/}
		allowed=" $(may_use "$l") "
		nm -u "$o" | awk -v o="${o#"$build"/}" -v l="$l" -v allowed="$allowed" '
			FNR == NR { layer[$1] = $2; next }
			($2 in layer) && index(allowed, " " layer[$2] " ") == 0 {
				print o ": the " l " layer calls " $2 " of the " layer[$2] " layer"
			}' "$defs" -
	done > "$defs.bad"
	# what the kernel's files share carries the kernel's prefix (AddressSanitizer adds an
	# __odr_asan. alias of each global it instruments: the name after it is what counts)
	for o in "$build"/kernel/*/.libs/*.o; do
		[ -e "$o" ] || continue
		nm --defined-only -g "$o" | awk -v o="${o#"$build"/}" 'NF == 3 && $3 !~ /^(__odr_asan\.)?mf_/ {
			print o ": " $3 " is shared between kernel files without the mf_ prefix" }'
	done >> "$defs.bad"
	if [ -s "$defs.bad" ]; then
		cat "$defs.bad"
		bad=1
	fi
	rm -f "$defs" "$defs.bad"
	return $bad
}

if [ $# -eq 0 ]; then
	# the check must be able to fail: a runtime file that includes a federation header
	copy=$(mktemp -d) || exit 99
	trap 'rm -rf "$copy"' EXIT
	cp -R "$root/kernel" "$root/plugins" "$root/sdk" "$copy/"
	printf '#include "registry.h"\n' >> "$copy/kernel/runtime/loop.c"
	if check "$copy" >/dev/null; then
		echo "t/layers.sh: a runtime file including registry.h went unnoticed"
		exit 1
	fi
fi
build=${2:-${MCPFED_BUILDDIR:-}}
status=0
check "$root" || status=1
if [ -n "$build" ]; then
	if ! ls "$build"/kernel/*/.libs/*.o >/dev/null 2>&1; then
		echo "t/layers.sh: no kernel objects under $build/kernel"
		exit 99
	fi
	check_calls "$build" || status=1
fi
[ $status -eq 0 ] && echo "layers: every include${build:+ and every call} points down"
exit $status

#!/bin/sh
# The manual pages: groff formats each without a warning (-ww), and mcpfed.lua(5) holds
# every key --help-config prints of the kernel's tables.
set -eu
top=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
build=${MCPFED_BUILDDIR:-$top/build}
command -v groff >/dev/null || { echo "groff is not installed: skipped"; exit 77; }
status=0
for page in "$top/man/mcpfed.8" "$top/man/mcpfedctl.8" "$build/man/mcpfed.lua.5"; do
	[ -f "$page" ] || { echo "FAIL: $page is missing"; status=1; continue; }
	warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1 || echo "groff failed")
	if [ -n "$warnings" ]; then
		echo "FAIL: $page:"; echo "$warnings"; status=1
	else
		echo "ok: $page"
	fi
done
# every kernel key, by name, in the formatted mcpfed.lua(5)
text=$(groff -man -Tutf8 "$build/man/mcpfed.lua.5" 2>/dev/null | sed 's/.\x08//g')
for key in $("$build/mcpfed" --help-config | awk -F '\t' '/^\[/ { sec = $0 } sec == "[kernel]" && NF >= 5 { print $1 }'); do
	printf '%s\n' "$text" | grep -q -- "^ *$key\( \|$\)" || { echo "FAIL: mcpfed.lua(5) lacks the key $key"; status=1; }
done
exit $status

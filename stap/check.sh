#!/bin/bash
# Translate every stap/*.stp against the built kmod/mhost.ko and the target kernel; fail loudly on any error.
#
#   stap/check.sh                  pass 3 (translation to C), what `make stapcheck` runs
#   STAPCHECK_PASS=4 stap/check.sh also compile the modules (minutes; patches
#                                  the runtime for 6.1 stable, see patch-runtime.sh)
#   KVER=6.1.0-57-amd64 stap/check.sh   another kernel than make -C kmod print-kver
#   STAPCHECK_OUT=DIR stap/check.sh  pass 4, and keep the modules in DIR
#                                  (mhost_<script>.ko, for staprun on the target)
#   STAPCHECK_STAPARGS='-DSTP_NO_OVERLOAD' STAPCHECK_OUT=DIR stap/check.sh
#                                  more stap arguments (here: for a target
#                                  under emulation, where the probe overhead
#                                  limit would stop the scripts)
#
# A probe point that no longer exists (a renamed function, one the compiler
# now inlines where a .return probe needs a real function, a renamed
# struct field) fails pass 2, so this fails. The kernel is the one mhost.ko
# is built for (make -C kmod print-kver), not the running one: stap gets a
# stand-in build tree (stap -r DIR) that holds the kernel's headers, the
# module and a System.map made from the kernel image's BTF
# (kernel-symbols.py), so that dwarfless kprobe.function probes resolve
# against that kernel without its debuginfo.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
pass=${STAPCHECK_PASS:-3}
out=${STAPCHECK_OUT:-}
read -r -a stapargs <<<"${STAPCHECK_STAPARGS:-}"
[ -z "$out" ] || pass=4

die() {
	echo "stapcheck: FAIL: $*" >&2
	exit 1
}

case $pass in 2 | 3 | 4) ;; *) die "STAPCHECK_PASS must be 2, 3 or 4, not '$pass'" ;; esac
command -v stap >/dev/null ||
	die "stap not found: install the Debian package systemtap (make deps does)"
command -v python3 >/dev/null || die "python3 not found (systemtap depends on it)"

kver=${KVER:-$(make -s --no-print-directory -C "$repo/kmod" print-kver)}
[ -n "$kver" ] || die "no kernel version: make -C kmod print-kver printed nothing"
build=/lib/modules/$kver/build
[ -e "$build/Makefile" ] || die "no headers for $kver in $build: apt-get install linux-headers-amd64"
vmlinuz=/boot/vmlinuz-$kver
[ -r "$vmlinuz" ] || die "$vmlinuz not readable: apt-get install linux-image-amd64 (its BTF names the kernel's functions)"

ko=$repo/kmod/mhost.ko
[ -f "$ko" ] || die "$ko not built: run make -C kmod"
magic=$(modinfo -F vermagic "$ko")
[ "${magic%% *}" = "$kver" ] || die "$ko is built for ${magic%% *}, not $kver: run make -C kmod KVER=$kver"
# mhost.ko's own sources (not protos/, whose changes do not rebuild it).
newer=$(find "$repo/kmod" -maxdepth 1 \( -name '*.c' -o -name '*.h' \) -not -name '*.mod.c' \
	-newer "$ko" -print -quit)
[ -n "$newer" ] || newer=$(find "$repo/kmod/include" -type f -newer "$ko" -print -quit)
[ -z "$newer" ] || die "$ko is older than ${newer#"$repo"/}: run make -C kmod"

shopt -s nullglob
scripts=("$here"/*.stp)
[ ${#scripts[@]} -gt 0 ] || die "no scripts in $here"

# Every script starts with a one-line comment saying what it is for.
for s in "${scripts[@]}"; do
	head -n 1 "$s" | grep -Eq '^# [A-Z].{10,}' ||
		die "${s#"$repo"/}: the first line must be a '# ...' comment saying what the script is for"
done

# Scripts that name mhost_rx_drop()'s reasons (a reason_str() function:
# drops.stp, datagram-up.stp) must name them as kmod/trace.h does.
want=$(awk '
	/^enum mhost_drop_reason[ \t]*\{/ { inenum = 1; next }
	inenum && /\}/ { inenum = 0 }
	inenum && match($0, /MHOST_DROP_[A-Z_]+/) {
		e = substr($0, RSTART, RLENGTH)
		if (match($0, /=[ \t]*[0-9]+/)) n = substr($0, RSTART + 1) + 0
		order[e] = n++
	}
	/\{[ \t]*MHOST_DROP_[A-Z_]+,[ \t]*"[a-z_]+"[ \t]*\}/ {
		match($0, /MHOST_DROP_[A-Z_]+/); e = substr($0, RSTART, RLENGTH)
		match($0, /"[a-z_]+"/); name[e] = substr($0, RSTART + 1, RLENGTH - 2)
	}
	END { for (e in order) print order[e], (e in name ? name[e] : "(no name in the mhost_drop tracepoint)") }
' "$repo/kmod/trace.h" | sort -n)
[ -n "$want" ] || die "kmod/trace.h: enum mhost_drop_reason not found"
grep -q '^function reason_str' "$here/drops.stp" || die "stap/drops.stp has no reason_str()"
for s in "${scripts[@]}"; do
	grep -q '^function reason_str' "$s" || continue
	have=$(sed -n 's/.*if (r == \([0-9]*\)) return "\([a-z_]*\)".*/\1 \2/p' "$s" | sort -n)
	if [ "$want" != "$have" ]; then
		echo "stapcheck: drop reasons, kmod/trace.h (<) vs ${s#"$repo"/} reason_str() (>):" >&2
		diff <(echo "$want") <(echo "$have") >&2 || true
		die "${s#"$repo"/} does not name the drop reasons of kmod/trace.h"
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/stapcheck.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The stand-in build tree: the real one, linked entry by entry, plus the
# module (stap -r DIR looks for modules under DIR) and the System.map.
tree=$work/build
mkdir -p "$tree/extra"
for e in "$build"/* "$build"/.config; do
	ln -s "$(readlink -f "$e")" "$tree/${e##*/}"
done
ln -s "$ko" "$tree/extra/mhost.ko"
"$here/kernel-symbols.py" "$vmlinuz" >"$tree/System.map" ||
	die "could not read the kernel's functions from $vmlinuz"

runtime=()
if [ "$pass" -ge 4 ] && grep -qs task_work_cancel_func "$build/include/linux/task_work.h" \
	"/lib/modules/$kver/source/include/linux/task_work.h" &&
	! grep -q task_work_cancel_func /usr/share/systemtap/runtime/stp_task_work.c; then
	"$here/patch-runtime.sh" "$work/runtime" >/dev/null
	runtime=(-R "$work/runtime")
fi

# Each script alone, all at once; a script that takes an optional
# argument ($1) is also translated with one. At pass 4 the first one runs
# alone: it caches the kernel's configuration probes (stapconf) for the
# others, which would otherwise all run them at once.
export SYSTEMTAP_DIR=$work/stap	# no cache or state in ~/.systemtap
start=${EPOCHREALTIME/./}
names=() pids=()
for s in "${scripts[@]}"; do
	if [ "$pass" -ge 4 ] && [ ${#pids[@]} -eq 1 ]; then
		wait "${pids[0]}" || true	# its status is collected below
	fi
	variants=("")
	[ -z "$out" ] && grep -q '\$1\b' "$s" && variants+=("1")
	for arg in "${variants[@]}"; do
		name=${s##*/}${arg:+ $arg}
		log=$work/${s##*/}${arg:+.$arg}.log
		(cd "$work" && stap -W -p"$pass" -r "$tree" "${runtime[@]}" "${stapargs[@]}" \
			-m "mhost_$(basename "$s" .stp | tr -c 'a-z0-9\n' _)${arg:+_$arg}" \
			"$s" ${arg:+"$arg"} >/dev/null 2>"$log") &
		names+=("$name")
		pids+=($!)
	done
done

failed=()
for i in "${!pids[@]}"; do
	if ! wait "${pids[$i]}"; then
		failed+=("${names[$i]}")
		log=$work/$(echo "${names[$i]}" | sed 's/ /./').log
		echo "stapcheck: stap -p$pass stap/${names[$i]} failed:" >&2
		sed 's/^/    /' "$log" >&2
	fi
done
ms=$(((${EPOCHREALTIME/./} - start) / 1000))

if [ ${#failed[@]} -gt 0 ]; then
	die "${#failed[@]} of ${#names[@]} translation(s) failed against $kver: ${failed[*]}"
fi
if [ -n "$out" ]; then
	mkdir -p "$out"
	cp "$work"/mhost_*.ko "$out"/
	echo "stapcheck: modules in $out; run one on the target with: staprun $out/mhost_failover.ko"
fi
echo "stapcheck: ok: ${#names[@]} translation(s) of ${#scripts[@]} script(s) pass $pass against mhost.ko and $kver in $((ms / 1000)).$(printf %03d $((ms % 1000)))s"

#!/bin/bash
# Copy SystemTap 4.8's runtime and fix it for 6.1 stable kernels (task_work_cancel_func), for stap -R.
#
#   stap/patch-runtime.sh DIR        then: stap -R DIR ...
#
# Linux 6.1.y (in Debian since linux 6.1.106-1) took the upstream change that
# renamed task_work_cancel(task, func) to task_work_cancel_func() and gave
# task_work_cancel() a (task, callback_head *) signature returning bool.
# SystemTap 4.8's runtime still calls the old one, so every module fails
# to compile at pass 4:
#
#   stp_task_work.c:107:40: error: passing argument 2 of
#   '(bool (*)(struct task_struct *, struct callback_head *))kallsyms_task_work_cancel'
#   from incompatible pointer type [-Werror=incompatible-pointer-types]
#
# This copies the runtime and points that one call at task_work_cancel_func,
# which has the old signature. The system's copy is left alone. Use the
# result only for kernels that have task_work_cancel_func (the script
# checks the headers of KVER if given: stap/patch-runtime.sh DIR KVER).
set -euo pipefail

die() { echo "patch-runtime: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 DIR [KVER]"
dir=$1
src=${STAP_RUNTIME_SRC:-/usr/share/systemtap/runtime}
[ -f "$src/stp_task_work.c" ] || die "$src/stp_task_work.c not found: is systemtap installed?"

if [ $# -eq 2 ]; then
	hdr=/lib/modules/$2/build/include/linux/task_work.h
	[ -f "$hdr" ] || hdr=/lib/modules/$2/source/include/linux/task_work.h
	[ -f "$hdr" ] || die "no include/linux/task_work.h for kernel $2"
	grep -q task_work_cancel_func "$hdr" ||
		die "kernel $2 has no task_work_cancel_func: use the stock runtime"
fi

if grep -q task_work_cancel_func "$src/stp_task_work.c"; then
	die "$src already knows task_work_cancel_func: no patch needed"
fi

rm -rf "$dir"
mkdir -p "$dir"
cp -a "$src/." "$dir/"
f=$dir/stp_task_work.c
sed -i \
	-e 's/typeof(&task_work_cancel) task_work_cancel_fn/typeof(\&task_work_cancel_func) task_work_cancel_fn/' \
	-e 's/kallsyms_lookup_name("task_work_cancel")/kallsyms_lookup_name("task_work_cancel_func")/' \
	"$f"
[ "$(grep -c task_work_cancel_func "$f")" -eq 2 ] ||
	die "$f did not look as expected; not patched (systemtap version $(stap -V 2>&1 | head -n1))"
echo "patch-runtime: patched runtime in $dir; use stap -R $dir"

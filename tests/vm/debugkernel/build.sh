#!/usr/bin/env bash
# Builds the debug kernel of the VM suite's debug lane from Debian's
# linux-source-6.1 (KASAN, kmemleak, lockdep, PROVE_RCU, UBSAN, failslab,
# KCOV: see debug.config), once per machine.
#
#   build.sh dir     print the cache directory for the current sources and
#                    config (whether or not it is built yet)
#   build.sh build   build it unless it is already there; print the directory
#   build.sh wait    wait for a build in progress, if any; print the directory
#                    if the kernel is built, fail if not
#
# The directory is keyed by the source package's version, debug.config,
# the compiler and recipe (below), so a change to any of them builds anew
# and nothing else does. It holds:
#   kernelrelease                the kernel's version (uname -r)
#   vmlinuz                      the image QEMU boots
#   lib/modules/<release>/       its modules, modules.dep, modules.builtin
#   lib/modules/<release>/build  the built tree, for building mhost.ko
#   build.log, config            the build's output and final .config
# Older directories are removed after a successful build.
#
# MHOST_CACHE (default /var/cache/mhost, else ~/.cache/mhost when that is
# not writable) is the machine-wide cache; MHOST_KSRC_TAR the source
# tarball (default /usr/src/linux-source-6.1.tar.xz); MHOST_JOBS the
# parallel jobs (default: the number of CPUs).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
fragment="$here/debug.config"
tarball="${MHOST_KSRC_TAR:-/usr/src/linux-source-6.1.tar.xz}"
srcpkg=linux-source-6.1
# Bump when a change to this script changes what gets built.
recipe=1

cache_root() {
	if [ -n "${MHOST_CACHE:-}" ]; then
		echo "$MHOST_CACHE"
	elif mkdir -p /var/cache/mhost 2>/dev/null && [ -w /var/cache/mhost ]; then
		echo /var/cache/mhost
	else
		echo "${XDG_CACHE_HOME:-$HOME/.cache}/mhost"
	fi
}

die() {
	echo "debugkernel: $*" >&2
	exit 1
}

key() {
	[ -r "$tarball" ] || die "no kernel source tarball $tarball: apt-get install $srcpkg (make deps does)"
	local ver
	ver="$(dpkg-query -W -f='${Version}' "$srcpkg" 2>/dev/null || true)"
	if [ -z "$ver" ] || [ "$tarball" != "/usr/src/$srcpkg.tar.xz" ]; then
		ver="sha-$(sha256sum "$tarball" | cut -c1-12)"
	fi
	local sum
	sum="$(cat "$fragment" <(echo "recipe $recipe") <(gcc --version | head -n1) | sha256sum | cut -c1-12)"
	echo "6.1-${ver}-${sum}"
}

dir_for_key() {
	echo "$(cache_root)/debugkernel/$(key)"
}

# Options that must be set as debug.config says; olddefconfig drops any
# whose dependencies are not met, silently.
check_config() {
	local config="$1" missing=()
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=y)
			grep -qx "$line" "$config" || missing+=("${line%=y}")
			;;
		"# CONFIG_"*" is not set")
			local opt="${line#\# }"
			opt="${opt%% *}"
			if grep -q "^$opt=y" "$config"; then
				echo "debugkernel: note: $opt stays enabled (selected by another option)" >&2
			fi
			;;
		esac
	done <"$fragment"
	if [ "${#missing[@]}" -gt 0 ]; then
		die "the final .config lacks ${missing[*]} (unmet dependencies?): see $config"
	fi
}

build() {
	local dir root
	dir="$(dir_for_key)"
	root="$(dirname "$dir")"
	if [ -e "$dir/ok" ]; then
		echo "$dir"
		return
	fi
	mkdir -p "$root"
	# One build at a time per machine; a second run waits for it.
	exec 9>"$root/.lock"
	if ! flock -n 9; then
		echo "debugkernel: another build holds $root/.lock; waiting" >&2
		flock 9
	fi
	if [ -e "$dir/ok" ]; then
		echo "$dir"
		return
	fi
	local start=$SECONDS jobs="${MHOST_JOBS:-$(nproc)}"
	rm -rf "$dir"
	mkdir -p "$dir/src"
	local log="$dir/build.log"
	echo "debugkernel: building into $dir (log $log); about 20 min on 2 CPUs, once per machine" >&2
	{
		echo "== unpacking $tarball"
		tar -xf "$tarball" -C "$dir/src" --strip-components=1
		cd "$dir/src"
		echo "== configuring: x86_64_defconfig + debug.config"
		make -s x86_64_defconfig
		scripts/kconfig/merge_config.sh -m .config "$fragment"
		make -s olddefconfig
	} >"$log" 2>&1 || die "configuring failed: see $log"
	check_config "$dir/src/.config"
	cp "$dir/src/.config" "$dir/config"
	cd "$dir/src"
	echo "== make -j$jobs bzImage modules" >>"$log"
	# nice: the machine is shared, and the build is not in a hurry.
	if ! nice -n 10 make -j"$jobs" bzImage modules >>"$log" 2>&1; then
		tail -n 40 "$log" >&2
		die "the kernel build failed: see $log"
	fi
	local rel
	rel="$(make -s kernelrelease)"
	make -s INSTALL_MOD_PATH="$dir" modules_install >>"$log" 2>&1 || die "modules_install failed: see $log"
	rm -f "$dir/lib/modules/$rel/build" "$dir/lib/modules/$rel/source"
	ln -s ../../../src "$dir/lib/modules/$rel/build"
	cp arch/x86/boot/bzImage "$dir/vmlinuz"
	echo "$rel" >"$dir/kernelrelease"
	echo "debugkernel: built $rel in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s" >&2
	touch "$dir/ok"
	for old in "$root"/*/; do
		old="${old%/}"
		[ "$old" = "$dir" ] || rm -rf "$old"
	done
	echo "$dir"
}

wait_build() {
	local dir root
	dir="$(dir_for_key)"
	root="$(dirname "$dir")"
	if [ ! -e "$dir/ok" ] && [ -e "$root/.lock" ]; then
		exec 9>"$root/.lock"
		flock -n 9 || { echo "debugkernel: waiting for the build in progress ($dir/build.log)" >&2; flock 9; }
	fi
	[ -e "$dir/ok" ] || die "not built: $dir"
	echo "$dir"
}

case "${1:-}" in
dir) dir_for_key ;;
build) build ;;
wait) wait_build ;;
*)
	echo "usage: $0 dir|build|wait" >&2
	exit 2
	;;
esac

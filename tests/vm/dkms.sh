#!/usr/bin/env bash
# Stages the DKMS source tree of mhost: kmod/'s sources (no build
# products) with dkms.conf, its version filled in.
#
#   dkms.sh version     print the version DKMS will know this tree as
#   dkms.sh stage DIR   create DIR/mhost-<version>/ and print the version
#
# The version comes from git (0+g<commit>, with -dirty for local changes)
# or, outside a checkout, from MHOST_VERSION.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"

version() {
	if [ -n "${MHOST_VERSION:-}" ]; then
		echo "$MHOST_VERSION"
	elif v="$(git -C "$repo" describe --tags --always --dirty 2>/dev/null)"; then
		# DKMS compares versions as Debian does: a leading digit sorts;
		# a bare commit id might not start with one.
		case "$v" in
		[0-9]*.*) echo "$v" ;;
		*) echo "0+g$v" ;;
		esac
	else
		echo "dkms.sh: not a git checkout: set MHOST_VERSION" >&2
		exit 1
	fi
}

stage() {
	local dir="$1" ver
	ver="$(version)"
	local dst="$dir/mhost-$ver"
	rm -rf "$dst"
	mkdir -p "$dst"
	# Everything but kbuild's products: objects of another kernel would
	# confuse the build.
	(cd "$repo/kmod" && find . -type f \
		-not \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd' \
		-o -name '*.a' -o -name 'modules.order' -o -name 'Module.symvers' -o -name '*.dwo' \
		-o -name '.*.d' -o -name '*.tmp' \) -print0 |
		cpio -0 -pdm --quiet "$dst")
	sed "s/@PACKAGE_VERSION@/$ver/" "$repo/dkms.conf" >"$dst/dkms.conf"
	echo "$ver"
}

case "${1:-}" in
version) version ;;
stage)
	[ -n "${2:-}" ] || { echo "usage: $0 stage DIR" >&2; exit 2; }
	stage "$2"
	;;
*)
	echo "usage: $0 version|stage DIR" >&2
	exit 2
	;;
esac

#!/usr/bin/env bash
# Installs AF_MHOST on this Linux machine: builds and installs mhost.ko for
# the running kernel, loads it, and installs the Go commands. Run it as
# root (sudo ./install.sh). Every prerequisite is checked before anything
# is installed, so a failed check changes nothing.
#
#   ./install.sh          build against the running kernel's headers and
#                         install into /lib/modules/<version>/extra
#   ./install.sh --dkms   register the sources with DKMS (/usr/src/mhost-<version>),
#                         which builds and installs them now and again for
#                         every kernel installed later (make dkms-install)
#
# To try the module without touching this machine's kernel, use the VM:
# make demo, make shell or make test.
set -euo pipefail

cd "$(dirname "$0")"

use_dkms=false
for arg in "$@"; do
	case "$arg" in
	--dkms) use_dkms=true ;;
	-h | --help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install.sh: unknown argument $arg (see --help)" >&2
		exit 2
		;;
	esac
done

KVER="$(uname -r)"
PREFIX="${PREFIX:-/usr/local}"
BINDIR="$PREFIX/bin"
GO="${GO:-go}"
if ! command -v "$GO" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	GO=/usr/local/go/bin/go
fi

problems=()
if [ "$(id -u)" -ne 0 ]; then
	problems+=("not running as root: run sudo $0")
fi
if [ ! -e "/lib/modules/$KVER/build/Makefile" ]; then
	problems+=("no kernel headers for the running kernel $KVER in /lib/modules/$KVER/build: install them (Debian: apt-get install linux-headers-$KVER), or test in the VM instead with 'make demo' / 'make test'")
fi
for tool in make gcc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		problems+=("$tool not found: install it (Debian: apt-get install $tool)")
	fi
done
if ! command -v "$GO" >/dev/null 2>&1; then
	problems+=("go not found: install Go (the version go.mod names) and put it in PATH, or set GO=/path/to/go")
fi
if ! command -v modprobe >/dev/null 2>&1 || ! command -v depmod >/dev/null 2>&1; then
	problems+=("modprobe/depmod not found: install kmod (Debian: apt-get install kmod)")
fi
if $use_dkms; then
	if ! command -v dkms >/dev/null 2>&1; then
		problems+=("dkms not found: install it (Debian: apt-get install dkms)")
	fi
	if ! dkms_version="$(tests/vm/dkms.sh version 2>&1)"; then
		problems+=("no version for DKMS: $dkms_version")
	fi
fi
if [ "${#problems[@]}" -gt 0 ]; then
	echo "install.sh: cannot install, nothing was changed:" >&2
	for p in "${problems[@]}"; do
		echo "  - $p" >&2
	done
	exit 1
fi

# Build everything first, so a build failure leaves the system untouched.
# (DKMS builds in its own tree; a failure there leaves the sources
# registered, and says so.)
if ! $use_dkms; then
	echo "install.sh: building mhost.ko for $KVER"
	make -C kmod KVER="$KVER" modules
fi
cmds=()
for dir in cmd/*/; do
	[ -e "$dir" ] || continue
	cmds+=("$(basename "$dir")")
done
tmpbin="$(mktemp -d)"
trap 'rm -rf "$tmpbin"' EXIT
for c in "${cmds[@]}"; do
	echo "install.sh: building $c"
	CGO_ENABLED=0 "$GO" build -o "$tmpbin/$c" "./cmd/$c"
done

if $use_dkms; then
	# One version registered at a time: an older one would be rebuilt for
	# new kernels too, and the two would compete.
	for old in $(dkms status -m mhost 2>/dev/null | sed -n 's|^mhost[/,] *\([^,:]*\).*|\1|p' | sort -u); do
		echo "install.sh: removing mhost $old from DKMS"
		dkms remove -m mhost -v "$old" --all
		rm -rf "/usr/src/mhost-$old"
	done
	echo "install.sh: registering mhost $dkms_version with DKMS (/usr/src/mhost-$dkms_version)"
	tests/vm/dkms.sh stage /usr/src >/dev/null
	dkms add -m mhost -v "$dkms_version"
	if ! dkms install -m mhost -v "$dkms_version" -k "$KVER"; then
		echo "install.sh: dkms could not build mhost $dkms_version for $KVER (its log is under /var/lib/dkms/mhost/$dkms_version/build/); the sources stay registered: dkms remove -m mhost -v $dkms_version --all undoes it" >&2
		exit 1
	fi
else
	echo "install.sh: installing mhost.ko"
	make -C kmod KVER="$KVER" install
fi
modprobe mhost
echo "install.sh: mhost loaded"

install -d "$BINDIR"
for c in "${cmds[@]}"; do
	install -m 0755 "$tmpbin/$c" "$BINDIR/$c"
	echo "install.sh: installed $BINDIR/$c"
done
echo "install.sh: done"

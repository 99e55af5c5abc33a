#!/usr/bin/env bash
# Installs AF_MHOST on this Linux machine: builds and installs mhost.ko for
# the running kernel, loads it, and installs the Go commands. Run it as
# root (sudo ./install.sh). Every prerequisite is checked before anything
# is installed, so a failed check changes nothing.
#
# To try the module without touching this machine's kernel, use the VM:
# make demo, make shell or make test.
set -euo pipefail

cd "$(dirname "$0")"

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
if [ "${#problems[@]}" -gt 0 ]; then
	echo "install.sh: cannot install, nothing was changed:" >&2
	for p in "${problems[@]}"; do
		echo "  - $p" >&2
	done
	exit 1
fi

# Build everything first, so a build failure leaves the system untouched.
echo "install.sh: building mhost.ko for $KVER"
make -C kmod KVER="$KVER" modules
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

echo "install.sh: installing mhost.ko"
make -C kmod KVER="$KVER" install
modprobe mhost
echo "install.sh: mhost loaded"

install -d "$BINDIR"
for c in "${cmds[@]}"; do
	install -m 0755 "$tmpbin/$c" "$BINDIR/$c"
	echo "install.sh: installed $BINDIR/$c"
done
echo "install.sh: done"

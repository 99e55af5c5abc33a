# mnet / AF_MHOST: build, test and demo entry points.
#
#   make deps     install what the VM tests need (Debian bookworm, root)
#   make module   build kmod/mhost.ko against the newest installed headers
#   make build    go build ./...
#   make vet      go vet, every build tag, and the SDK for linux/386 and windows
#   make unit     host unit tests (no VM, never loads the module)
#   make stapcheck  translate every stap/ script against the built module
#   make test     deps + vet + unit + the VM suite (QEMU)
#   make demo     boot the VM and run the mhost-server/mhost-client demo
#   make shell    boot the VM with mhost.ko loaded and a shell on this terminal
#   make bench    boot the VM (no SLUB debugging, 2G) and run the benchmarks:
#                 tables on stdout, out/bench.json and out/bench.md; under TCG
#                 a second boot counts instructions (out/bench-icount.*), ~13 min
#   make clean
#
# VMFLAGS passes flags to the VM suite, e.g. make test VMFLAGS='-vm.run=TestBind -vm.keep'.
# BENCHFLAGS passes flags to mhost-bench, e.g. make bench BENCHFLAGS='-run throughput -rounds 5'.
# The test suite runs every benchmark once with tiny counts (tests/guest TestBenchSmoke).
# KVER picks the kernel (default: newest with headers and /boot/vmlinuz).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(PATH):/usr/local/go/bin

GO ?= go
KVER ?=
VMFLAGS ?=
BENCHFLAGS ?=
MHOSTVM := out/mhostvm

ifneq ($(KVER),)
export MHOST_KVER := $(KVER)
endif

# Debian packages the module build and the VM tests need.
DEBS := linux-image-amd64 linux-headers-amd64 qemu-system-x86 busybox-static \
	kmod make gcc cpio iproute2 systemtap python3

.PHONY: all deps module build vet unit stapcheck vmtest test demo shell clean

all: build module

deps:
	@missing=(); \
	for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -qx 'install ok installed' || missing+=("$$p"); \
	done; \
	if [ $${#missing[@]} -eq 0 ]; then echo "deps: all installed"; exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "deps: missing Debian packages: $${missing[*]}" >&2; \
		echo "deps: run 'sudo make deps' (or apt-get install $${missing[*]})" >&2; \
		exit 1; \
	fi; \
	echo "deps: installing $${missing[*]}"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q; \
	apt-get install -y -q --no-install-recommends "$${missing[@]}" </dev/null

module:
	$(MAKE) -C kmod $(if $(KVER),KVER=$(KVER))

build:
	$(GO) build ./...

# The SDK and the commands also build for 32-bit Linux and for systems
# without AF_MHOST (windows: not even golang.org/x/sys/unix), where they
# say they need Linux.
vet:
	$(GO) vet ./...
	$(GO) vet -tags guest ./...
	$(GO) vet -tags vm ./...
	$(GO) vet -tags guest ./tests/vm/testdata/sample
	GOARCH=386 $(GO) vet ./gosdk/... ./cmd/...
	GOOS=windows $(GO) vet ./gosdk/... ./cmd/...

# MHOST_TEST_STRICT turns a test's skip for a missing facility (no IPv6
# loopback, no cpio) into a failure: here the facility is installed, so a
# skip would be a test passing without running.
unit:
	MHOST_TEST_STRICT=1 $(GO) test -count=1 ./...

stapcheck: module
	$(if $(KVER),KVER=$(KVER)) stap/check.sh

vmtest:
	MHOST_TEST_STRICT=1 $(GO) test -tags vm -v -count=1 -timeout 30m ./tests/vm $(VMFLAGS)

test: deps
	$(MAKE) vet
	$(MAKE) unit
	$(MAKE) stapcheck
	$(MAKE) vmtest

$(MHOSTVM): FORCE
	$(GO) build -o $@ ./tests/vm/cmd/mhostvm

demo: deps $(MHOSTVM)
	$(MHOSTVM) demo $(VMFLAGS)

shell: deps $(MHOSTVM)
	$(MHOSTVM) shell $(VMFLAGS)

bench: deps $(MHOSTVM)
	$(MHOSTVM) bench $(VMFLAGS) -- $(BENCHFLAGS)

clean:
	-$(MAKE) -C kmod clean
	rm -rf out

.PHONY: FORCE
FORCE:

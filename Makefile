# mnet / AF_MHOST: build, test and demo entry points.
#
#   make deps     install what the VM tests need (Debian bookworm, root)
#   make kernels  set up the kernels of the lanes (LANES): apt, the trixie
#                 environment, the debug kernel (cached in /var/cache/mhost)
#   make lanes    list the lanes and the kernel each has here
#   make module   build kmod/mhost.ko for the first default lane's kernel
#                 (6.1), or for KVER=<version>: any kernel of the matrix
#   make build    go build ./...
#   make vet      go vet, every build tag, and the SDK for linux/386 and windows
#   make lint     checkpatch --strict, and the module built with W=1 and sparse
#                 for each kernel series, failing on any warning
#   make unit     host unit tests (no VM, never loads the module)
#   make stapcheck  translate every stap/ script against the built module
#   make test     deps + kernels + vet + lint + unit + stapcheck + dkmscheck + the VM
#                 suite (QEMU) on every lane
#   make dkmscheck  dkms build (never install) for each lane's kernel
#   make dkms-install  install mhost with DKMS for the running kernel (root)
#   make demo     boot the VM and run the mhost-server/mhost-client demo
#   make shell    boot the VM with mhost.ko loaded and a shell on this terminal
#   make bench    boot the VM (no SLUB debugging, 2G) and run the benchmarks:
#                 tables on stdout, out/bench.json and out/bench.md; under TCG
#                 a second boot counts instructions (out/bench-icount.*), ~13 min
#   make clean
#
# VMFLAGS passes flags to the VM suite, e.g. make test VMFLAGS='-vm.run=TestBind -vm.keep'.
# BENCHFLAGS passes flags to mhost-bench, e.g. make bench BENCHFLAGS='-run throughput -rounds 5'.
# BASELINE=<git revision> makes make bench also measure that revision's mhost.ko in the same boot.
# The test suite runs every benchmark once with tiny counts (tests/guest TestBenchSmoke).
# LANES picks the lanes of the kernel matrix, comma-separated: 6.1, 6.12,
# newest (trixie-backports), debug, selinux, or all. The default is
# DefaultLanes in tests/vm/lanes.go: make test LANES=6.1,6.12.
# KVER runs or builds for one kernel by version: make test KVER=6.12.118+deb12-amd64
# (see make lanes for the versions here).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(PATH):/usr/local/go/bin

GO ?= go
KVER ?=
LANES ?=
VMFLAGS ?=
BENCHFLAGS ?=
MHOSTVM := out/mhostvm

ifneq ($(KVER),)
export MHOST_KVER := $(KVER)
endif

# Debian packages the module build and the VM tests need; then what the
# lanes need: pahole for 6.12's headers, debootstrap for the trixie
# environment, the kernel sources and their build tools for the debug
# kernel, dkms for dkmscheck, sparse for lint. The lanes' kernels come
# from make kernels.
DEBS := linux-image-amd64 linux-headers-amd64 qemu-system-x86 busybox-static \
	kmod make gcc cpio iproute2 systemtap python3 \
	dwarves debootstrap linux-source-6.1 libc6-dev perl bc flex bison libelf-dev libssl-dev \
	xz-utils zstd dkms sparse

.PHONY: all deps kernels lanes module build vet lint unit stapcheck dkmscheck dkms-install vmtest test demo shell clean

all: build module

deps:
	@SECONDS=0; missing=(); \
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
	apt-get -o DPkg::Lock::Timeout=900 update -q; \
	apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "$${missing[@]}" </dev/null; \
	echo "deps: installed in $${SECONDS}s"

# Root is needed the first time (apt, debootstrap); later runs only look.
kernels: $(MHOSTVM)
	$(MHOSTVM) setup $(if $(LANES),-lanes $(LANES))

lanes: $(MHOSTVM)
	@$(MHOSTVM) lanes

module: $(MHOSTVM)
	$(MHOSTVM) module $(if $(KVER),-kver $(KVER))

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

# checkpatch.pl, then the module built from clean with W=1 and sparse
# (C=2) for each kernel series of the lanes, any warning failing: the
# selinux and debug lanes run 6.1. No sparse for the newest: its headers
# use __typeof_unqual__, which Debian's sparse (0.6.4) predates. KVER
# checks that kernel alone.
comma := ,
lint_lanes = $(sort $(foreach l,$(1),$(if $(filter all,$(l)),6.1 6.12 newest,$(if $(filter selinux debug,$(l)),6.1,$(l)))))
LINT_LANES := $(call lint_lanes,$(if $(LANES),$(subst $(comma), ,$(LANES)),6.1 6.12 newest))
lint: $(MHOSTVM)
	$(MAKE) -C kmod style
	@set -e; $(if $(KVER),$(MHOSTVM) module -check -kver $(KVER),\
	for l in $(LINT_LANES); do $(MHOSTVM) module -check -lane $$l; done)

# MHOST_TEST_STRICT turns a test's skip for a missing facility (no IPv6
# loopback, no cpio) into a failure: here the facility is installed, so a
# skip would be a test passing without running.
unit:
	MHOST_TEST_STRICT=1 $(GO) test -count=1 ./...

# SystemTap translates against a kernel installed here: KVER's if it is
# one, else the first default lane's (6.1).
stapcheck: $(MHOSTVM)
	@k="$(KVER)"; \
	if [ -z "$$k" ] || [ ! -e "/lib/modules/$$k/build/Makefile" ]; then \
		k="$$(env -u MHOST_KVER $(MHOSTVM) kver)"; \
		[ -z "$(KVER)" ] || echo "stapcheck: $(KVER) is not installed here; checking against $$k"; \
	fi; \
	$(MHOSTVM) module -kver "$$k" && KVER="$$k" stap/check.sh

# Builds, never installs or loads: on this machine for its kernels, in the
# trixie environment for that one.
dkmscheck:
	MHOST_TEST_STRICT=1 $(GO) test -tags vm -count=1 -timeout 20m -run 'TestDKMS' ./tests/vm \
		$(if $(LANES),-vm.lanes=$(LANES))

dkms-install:
	./install.sh --dkms

# The timeout covers every lane (about 5 min each, the debug lane's 15)
# and, the first time on a machine, the debug kernel's build.
vmtest:
	MHOST_TEST_STRICT=1 $(GO) test -tags vm -v -count=1 -timeout 100m -skip '^TestDKMS$$' ./tests/vm \
		$(if $(LANES),-vm.lanes=$(LANES)) $(VMFLAGS)

# With KVER the kernel must be set up already (make kernels, make lanes).
# The debug kernel, if it is not built yet, starts building first, in the
# background (setup -defer-debug), while the other lanes are set up and
# run; its lane comes last in the VM suite, and dkmscheck, which needs it
# too, after that. Each part says how long it took.
test: deps $(MHOSTVM)
	$(if $(KVER),,@TIMEFORMAT='make test: kernels took %0Rs'; time $(MHOSTVM) setup -defer-debug $(if $(LANES),-lanes $(LANES)))
	@TIMEFORMAT='make test: vet took %0Rs'; time $(MAKE) vet
	@TIMEFORMAT='make test: lint took %0Rs'; time $(MAKE) lint
	@TIMEFORMAT='make test: unit took %0Rs'; time $(MAKE) unit
	@TIMEFORMAT='make test: stapcheck took %0Rs'; time $(MAKE) stapcheck
	@TIMEFORMAT='make test: vmtest took %0Rs'; time $(MAKE) vmtest
	@TIMEFORMAT='make test: dkmscheck took %0Rs'; time $(MAKE) dkmscheck

$(MHOSTVM): FORCE
	$(GO) build -o $@ ./tests/vm/cmd/mhostvm

demo: deps $(MHOSTVM)
	$(MHOSTVM) demo $(VMFLAGS)

shell: deps $(MHOSTVM)
	$(MHOSTVM) shell $(VMFLAGS)

bench: deps $(MHOSTVM)
	$(MHOSTVM) bench $(VMFLAGS) $(if $(BASELINE),-baseline $(BASELINE)) -- $(BENCHFLAGS)

clean:
	-$(MAKE) -C kmod clean
	rm -rf out

.PHONY: FORCE
FORCE:

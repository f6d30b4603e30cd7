# faultlab: QEMU device models that fault like the silicon, guests running the
# unmodified upstream drivers, and a harness that judges the outcome.
#
#   make run     set up on first use, then boot every platform and probe it
#   make test    set up on first use, then every test (unit, qtest, e2e)
#
# Everything built goes to $(FAULTLAB_CACHE) (default ~/.cache/faultlab).
# Each build step is incremental: a second run with nothing changed takes seconds.

FAULTLAB_CACHE ?= $(HOME)/.cache/faultlab
export FAULTLAB_CACHE
VENV := $(FAULTLAB_CACHE)/venv
PY := $(VENV)/bin/python
ARCHES := x86_64 arm64 ppc64le
# Kernel series (a linux-source-SERIES pin in images/lock.json): make kernels SERIES=7.3
SERIES ?= 6.12
PYTEST_ARGS ?=

.PHONY: all setup deps venv qemu kernels images lock run probe test test-unit test-qtest \
	test-e2e test-matrix ci-kernels lint bench clean-results $(addprefix kernel-,$(ARCHES)) \
	kernel-ppc64le-apf $(addprefix image-,$(ARCHES)) $(addprefix guest-,$(ARCHES)) \
	$(addprefix gate-,$(ARCHES))

all: setup

setup: deps venv qemu kernels images

deps:
	@scripts/deps.sh

venv: deps
	@scripts/venv.sh

qemu: venv
	@qemu-devices/build.sh

# A kernel is its image plus our modules built against it (the overlay the harness
# appends to the base initramfs: /lib/modules/RELEASE and /opt/faultlab/modules).
kernels: $(addprefix kernel-,$(ARCHES)) kernel-ppc64le-apf
$(addprefix kernel-,$(ARCHES)): kernel-%: deps
	@guest-kernel/build.sh --series $(SERIES) $*
	@guest-kernel/build-modules.sh --series $(SERIES) $*

# Kernel variants: the base kernel plus a fragment (and patches/ARCH-VARIANT/).
# pseries asynchronous page faults (scenarios pseries/apf-*), seeded from the base build.
kernel-ppc64le-apf: kernel-ppc64le
	@FAULTLAB_KERNEL_VARIANT=apf \
	 FAULTLAB_KERNEL_FRAGMENTS=$(CURDIR)/guest-kernel/configs/ppc64le-apf.config \
	 guest-kernel/build.sh --series $(SERIES) ppc64le
	@guest-kernel/build-modules.sh --series $(SERIES) --variant apf ppc64le

# Compile gate of a series without building the kernel: the fragments' options stick,
# the series' patches apply, modules_prepare, our modules compile. ppc64le's gate is its apf
# variant (the base config plus the apf patch's option), in the variant's own build tree.
GATE_VARIANT = $(if $(filter ppc64le,$(1)),apf)
$(addprefix gate-,$(ARCHES)): gate-%: deps
	@FAULTLAB_PREPARE_ONLY=1 FAULTLAB_KERNEL_VARIANT=$(call GATE_VARIANT,$*) \
	 FAULTLAB_KERNEL_FRAGMENTS="$(if $(call GATE_VARIANT,$*),$(CURDIR)/guest-kernel/configs/$*-$(call GATE_VARIANT,$*).config)" \
	 guest-kernel/build.sh --series $(SERIES) $*
	@guest-kernel/build-modules.sh --series $(SERIES) --compile-only \
	 $(if $(call GATE_VARIANT,$*),--variant $(call GATE_VARIANT,$*)) $*

# What `make test` adds to the default series: Linux 7.3 booted on x86_64 (groups x86,
# vtd, dsa) and the 7.3 compile gate of arm64 and ppc64le.
CI_SERIES := 7.3
ci-kernels: deps
	@$(MAKE) --no-print-directory kernel-x86_64 SERIES=$(CI_SERIES)
	@$(MAKE) --no-print-directory gate-arm64 gate-ppc64le SERIES=$(CI_SERIES)

# Guest software (our kernel modules and programs), built against the guest kernel tree.
$(addprefix guest-,$(ARCHES)): guest-%: kernel-%
	@guest-kernel/build-guest.sh $*

images: $(addprefix image-,$(ARCHES))
$(addprefix image-,$(ARCHES)): image-%: deps guest-%
	@images/build.sh $*

# Move every pin in images/lock.json to the newest of its series.
lock:
	@PYTHONPATH=harness python3 -m faultlab.lock refresh

run: setup
	@$(VENV)/bin/faultlab probe

lint: venv
	@$(VENV)/bin/ruff check harness tests
	@$(VENV)/bin/ruff format --check harness tests

test: setup ci-kernels lint
	@$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	@$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-qtest: qemu
	@$(PY) -m pytest -m qtest $(PYTEST_ARGS)

test-e2e: setup
	@$(PY) -m pytest -m e2e $(PYTEST_ARGS)

# Every scenario on every pinned kernel series, on all arches.
test-matrix: setup
	@$(MAKE) --no-print-directory kernels SERIES=$(CI_SERIES)
	@FAULTLAB_E2E_MATRIX=all $(PY) -m pytest -m e2e $(PYTEST_ARGS)

bench: setup
	@$(VENV)/bin/faultlab bench --runs 5 --rates --json results/bench.json

clean-results:
	rm -rf results

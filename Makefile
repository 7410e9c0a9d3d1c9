# The two commands that matter: `make run` and `make test` (each runs scripts/setup first if needed).
BUILD ?= build
JOBS ?= $(shell nproc)
CONFIG ?=

.PHONY: all setup build run test bench clean

all: build

.deps/.setup-done: scripts/setup tests/integration/package-lock.json
	./scripts/setup

setup: .deps/.setup-done

$(BUILD)/CMakeCache.txt: .deps/.setup-done
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# Starts a working signer on the dev default (~/.vigil, 127.0.0.1:6732), or on CONFIG=path.
run: build
	$(BUILD)/vigil serve $(if $(CONFIG),-c $(CONFIG))

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: build
	./bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# ASan + UBSan + LeakSanitizer build in build-san, whole ctest suite against it (docs/testing.md).
.PHONY: sanitize
sanitize: setup
	JOBS=$(JOBS) ./scripts/sanitize build-san

# libFuzzer targets (clang) in build-fuzz, each run FUZZ_SECONDS, FUZZ_JOBS at a time (docs/testing.md).
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= $(JOBS)
.PHONY: fuzz
fuzz: setup
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_FUZZ=ON >/dev/null
	cmake --build build-fuzz --target fuzz_all -j$(JOBS)
	./fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_JOBS)

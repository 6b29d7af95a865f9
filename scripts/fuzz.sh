#!/usr/bin/env bash
# Fuzzes the relay's frame decoder, payload decoder and session state machines with libFuzzer
# (Sources/MeshRelayFuzz). Crash inputs go to Tests/MeshRelayProtocolTests/FuzzCorpus/, where the
# test suite replays them.
# Usage: scripts/fuzz.sh [SECONDS]   (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-600}"
# Coverage instrumentation + ASan on every module; libFuzzer without its own main, because
# SwiftPM gives executables their own entry point (FuzzMain calls LLVMFuzzerRunDriver).
FUZZER_LIB="$(ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)"
[ -n "$FUZZER_LIB" ] || FUZZER_LIB="$(dirname "$(dirname "$(command -v swift)")")/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a"
swift build -c release --scratch-path .build-fuzz --product MeshRelayFuzz \
  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
  -Xswiftc -DFUZZING -Xlinker $FUZZER_LIB -Xlinker -lstdc++
BIN=".build-fuzz/release/MeshRelayFuzz"
CORPUS="$(mktemp -d)"
CRASHES="Tests/MeshRelayProtocolTests/FuzzCorpus"
mkdir -p "$CRASHES"
"$BIN" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -artifact_prefix="$CRASHES/" -print_final_stats=1 2>&1 | tail -25

#!/usr/bin/env bash
# Fuzzes with libFuzzer + ASan (Sources/MeshRelayFuzz), one target at a time:
#   frames     the relay's frame decoder, payload decoder and both session state machines;
#              crash inputs go to Tests/MeshRelayProtocolTests/FuzzCorpus/
#   manifests  manifest text through the YAML parser (Yams/libyaml, instrumented too), resource
#              decoder, validator and the YAML round trip; crash inputs go to
#              Tests/MeshRelayModelTests/FuzzCorpus/
# The test suite replays both corpus folders on every run.
# Usage: scripts/fuzz.sh [frames|manifests] [SECONDS]   (default: frames, 600 s)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=frames
if [ $# -gt 0 ] && [[ ! "$1" =~ ^[0-9]+$ ]]; then TARGET="$1"; shift; fi
SECONDS_TO_RUN="${1:-600}"
case "$TARGET" in
  frames) CRASHES="Tests/MeshRelayProtocolTests/FuzzCorpus"; MAX_LEN=65536 ;;
  manifests) CRASHES="Tests/MeshRelayModelTests/FuzzCorpus"; MAX_LEN=16384 ;;
  *) echo "unknown fuzz target '$TARGET' (frames or manifests)" >&2; exit 2 ;;
esac
# Coverage instrumentation + ASan on every module (Swift and C); libFuzzer without its own main,
# because SwiftPM gives executables their own entry point (FuzzMain calls LLVMFuzzerRunDriver).
FUZZER_LIB="$(ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)"
[ -n "$FUZZER_LIB" ] || FUZZER_LIB="$(ls "$(dirname "$(dirname "$(command -v swift)")")"/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a | head -1)"
swift build -c release --scratch-path .build-fuzz --product MeshRelayFuzz \
  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
  -Xcc -fsanitize=address -Xcc -fsanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
  -Xswiftc -DFUZZING -Xlinker "$FUZZER_LIB" -Xlinker -lstdc++
BIN=".build-fuzz/release/MeshRelayFuzz"
CORPUS="$(mktemp -d)"
trap 'rm -rf "$CORPUS"' EXIT
mkdir -p "$CRASHES"
if [ "$TARGET" = manifests ]; then
  MESHRELAY_FUZZ_TARGET=manifests "$BIN" --write-manifest-seeds "$CORPUS"
  cp examples/*.yaml "$CORPUS/"
fi
MESHRELAY_FUZZ_TARGET="$TARGET" "$BIN" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len="$MAX_LEN" -timeout=25 \
  -artifact_prefix="$CRASHES/" -print_final_stats=1 2>&1 | tail -25

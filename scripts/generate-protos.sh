#!/usr/bin/env bash
# Regenerates Sources/MeshRelayProtocol/Generated/*.pb.swift from Sources/MeshRelayProtocol/Proto/*.proto.
#
# The generated Swift is committed: building and CI never need protoc. Run this after editing a
# .proto file (or when upgrading swift-protobuf: the plugin version must match the runtime version
# in Package.swift), review the diff, and commit both.
#
# Tools (installed or built when missing):
#   - protoc: `apt-get install protobuf-compiler` (Debian/Ubuntu; elsewhere install it yourself);
#   - protoc-gen-swift $SWIFT_PROTOBUF_VERSION: built in a scratch directory outside the repository
#     from $SWIFT_PROTOBUF_GIT (default: the local mirror, else GitHub). Takes a few minutes once.
#
# Usage: scripts/generate-protos.sh
# Environment: SWIFT_PROTOBUF_VERSION (1.39.0), SWIFT_PROTOBUF_GIT, PROTOC_GEN_SWIFT_DIR (scratch
# checkout, default /tmp/swift-protobuf), PROTOC_GEN_SWIFT (an existing plugin binary to use).
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT_PROTOBUF_VERSION="${SWIFT_PROTOBUF_VERSION:-1.39.0}"
if [ -z "${SWIFT_PROTOBUF_GIT:-}" ]; then
  if [ -d /opt/swift-packages/apple/swift-protobuf.git ]; then
    SWIFT_PROTOBUF_GIT=/opt/swift-packages/apple/swift-protobuf.git
  else
    SWIFT_PROTOBUF_GIT=https://github.com/apple/swift-protobuf.git
  fi
fi
PLUGIN_DIR="${PROTOC_GEN_SWIFT_DIR:-/tmp/swift-protobuf}"
PROTO_DIR=Sources/MeshRelayProtocol/Proto
OUT_DIR=Sources/MeshRelayProtocol/Generated

# 1. protoc
if ! command -v protoc >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing protoc (protobuf-compiler)" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq protobuf-compiler
  else
    echo "error: protoc not found; install the protobuf compiler and retry" >&2
    exit 1
  fi
fi

# 2. protoc-gen-swift at exactly the runtime's version
PLUGIN="${PROTOC_GEN_SWIFT:-$PLUGIN_DIR/.build/release/protoc-gen-swift}"
plugin_version() { "$1" --version 2>/dev/null | awk '{print $NF}'; }
if [ ! -x "$PLUGIN" ] || [ "$(plugin_version "$PLUGIN")" != "$SWIFT_PROTOBUF_VERSION" ]; then
  if [ -n "${PROTOC_GEN_SWIFT:-}" ]; then
    echo "error: $PROTOC_GEN_SWIFT is not protoc-gen-swift $SWIFT_PROTOBUF_VERSION" >&2
    exit 1
  fi
  echo "building protoc-gen-swift $SWIFT_PROTOBUF_VERSION in $PLUGIN_DIR (a few minutes)" >&2
  if [ ! -d "$PLUGIN_DIR/.git" ]; then
    git clone -q "$SWIFT_PROTOBUF_GIT" "$PLUGIN_DIR"
  fi
  git -C "$PLUGIN_DIR" fetch -q --tags origin 2>/dev/null || true
  git -C "$PLUGIN_DIR" checkout -q "$SWIFT_PROTOBUF_VERSION"
  (cd "$PLUGIN_DIR" && swift build -c release --product protoc-gen-swift)
  PLUGIN="$PLUGIN_DIR/.build/release/protoc-gen-swift"
fi

# 3. generate
echo "$(protoc --version), protoc-gen-swift $(plugin_version "$PLUGIN")" >&2
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/*.pb.swift
protoc \
  --plugin=protoc-gen-swift="$PLUGIN" \
  --proto_path="$PROTO_DIR" \
  --swift_out="$OUT_DIR" \
  --swift_opt=Visibility=Internal \
  --swift_opt=FileNaming=DropPath \
  "$PROTO_DIR"/*.proto
ls -l "$OUT_DIR"/*.pb.swift >&2

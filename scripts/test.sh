#!/usr/bin/env bash
# The whole test suite, in two phases:
#   1. every test except the failover drills, in parallel (`swift test` builds what it needs);
#   2. the failover drills (docs/drills.md) alone: they start 100 agent processes at once, a
#      PostgreSQL and Envoys, which on 2 cores would starve the tests running beside them.
# Both phases always run; the exit status is the first failure's. Extra arguments go to both
# `swift test` calls (e.g. --parallel or -Xswiftc flags).
set -uo pipefail
cd "$(dirname "$0")/.."

drills='MeshRelayEndToEndTests.HADrillTests'
swift test --skip "$drills" "$@"
first=$?
swift test --skip-build --filter "$drills" "$@"
second=$?
echo "scripts/test.sh: tests exit $first; drills exit $second"
if [ "$first" -ne 0 ]; then exit "$first"; fi
exit "$second"

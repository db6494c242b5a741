#!/usr/bin/env bash
# The unit and integration tests again on Node 24, the Node the image runs (`npm test` runs everything
# on the machine's Node first): Node 24 from scripts/tool-versions.env, installed by setup-tools.sh, first
# on PATH, so the tests' child processes (the exporter, npm) run on it too. The e2e and fault tests, and
# the image test, run once, on the first pass.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tool-versions.env
. scripts/tool-versions.env
node_bin="${WA_TOOLS_DIR:-/opt/whatsapp-exporter-tools}/node-v${NODE24_VERSION}/bin"
[ -x "$node_bin/node" ] || { echo "test-node24: $node_bin/node is missing: run bash scripts/setup-tools.sh" >&2; exit 1; }
export PATH="$node_bin:$PATH"
echo "test-node24: unit and integration tests on Node $(node --version)"
exec node node_modules/vitest/vitest.mjs run test/unit test/integration "$@"

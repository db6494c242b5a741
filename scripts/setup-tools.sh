#!/usr/bin/env bash
# Installs the system tools the tests use, when missing: Debian packages (redis-server, prometheus with
# promtool, prometheus-alertmanager, chromium) and Go tools pinned by version (helm, kubeconform,
# helm-unittest). Quick and silent when everything is already there; `npm test` runs it first.
set -euo pipefail

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

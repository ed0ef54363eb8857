#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl, helm)
# from the Go modules pinned beside this script, into a git-ignored cache.
#
# Idempotent: each binary is rebuilt only when the pins it comes from (go.mod/go.sum) change.
# The cache key is a hash of those files, so bumping a version rebuilds; anything else reuses.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${SMOP_CACHE_DIR:-$root/.cache}/controlplane"
bin="$cache/bin"
mkdir -p "$bin"

# The checksum database may be out of reach; go.sum is committed, so verify against it alone.
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GONOSUMDB="*" GOSUMDB=off
export CGO_ENABLED=0
# Two cores: one package at a time keeps peak memory near 3 GB instead of twice that.
export GOMAXPROCS="${GOMAXPROCS:-2}"

stamp_of() { cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -c1-16; }

build() { # build MODULE_DIR OUTPUT_NAME PACKAGE
  local dir="$1" name="$2" pkg="$3"
  local want; want="$(stamp_of "$dir")"
  if [[ -x "$bin/$name" && -f "$bin/$name.stamp" && "$(cat "$bin/$name.stamp")" == "$want" ]]; then
    echo "controlplane: $name is cached ($bin/$name)"
    return
  fi
  echo "controlplane: building $name from $pkg (first time takes minutes) ..."
  local start=$SECONDS
  (cd "$dir" && go build -trimpath -ldflags="-s -w" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$want" > "$bin/$name.stamp"
  echo "controlplane: built $name in $((SECONDS - start))s"
}

build "$here" etcd go.etcd.io/etcd/server/v3
build "$here" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build "$here" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build "$here" kubectl k8s.io/kubernetes/cmd/kubectl
build "$here/helm" helm helm.sh/helm/v3/cmd/helm
echo "controlplane: ready in $bin"

#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl, helm)
# and the test node's kubelet and kube-scheduler from the Go modules pinned beside this script,
# into a git-ignored cache. `build.sh node` builds only the node's two (the suite asks for them
# when a test first needs a node; `make test` builds everything up front).
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

# The version a module pins, read from its go.mod (one source of truth for the pins).
pinned() {
  awk -v m="$2" '($1 == m && $2 ~ /^v/) {print $2; exit}
                 ($1 == "require" && $2 == m) {print $3; exit}' "$1/go.mod"
}
k8s_version="$(pinned "$here" k8s.io/kubernetes)"
helm_version="$(pinned "$here/helm" helm.sh/helm/v3)"
# The node's module (its own go.sum, so its changes never rebuild the control plane) must pin
# the very same Kubernetes: a kubelet newer than its API server is outside the version skew.
node_k8s_version="$(pinned "$here/node" k8s.io/kubernetes)"
if [[ "$node_k8s_version" != "$k8s_version" ]]; then
  echo "controlplane: node/go.mod pins k8s.io/kubernetes $node_k8s_version, go.mod $k8s_version" >&2
  exit 1
fi
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
# Built from modules there is no git tree to stamp a version from; without these the binaries
# report v0.0.0, which version checks (kubectl's skew warning, charts' kubeVersion) misread.
k8s_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=$k8s_version \
-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor"
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$helm_version"

stamp_of() { { cat "$1/go.mod" "$1/go.sum"; echo "$2"; } | sha256sum | cut -c1-16; }

build() { # build MODULE_DIR OUTPUT_NAME PACKAGE [LDFLAGS]
  local dir="$1" name="$2" pkg="$3" extra="${4:-}"
  local want; want="$(stamp_of "$dir" "$extra")"
  if [[ -x "$bin/$name" && -f "$bin/$name.stamp" && "$(cat "$bin/$name.stamp")" == "$want" ]]; then
    echo "controlplane: $name is cached ($bin/$name)"
    return
  fi
  echo "controlplane: building $name from $pkg (first time takes minutes) ..."
  local start=$SECONDS
  (cd "$dir" && go build -trimpath -ldflags="-s -w $extra" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$want" > "$bin/$name.stamp"
  echo "controlplane: built $name in $((SECONDS - start))s"
}

build_node() {
  build "$here/node" kubelet k8s.io/kubernetes/cmd/kubelet "$k8s_ldflags"
  build "$here/node" kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
}
if [[ "${1:-}" == "node" ]]; then
  build_node
  exit 0
fi

build "$here" etcd go.etcd.io/etcd/server/v3
build "$here" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build "$here" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build "$here" kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
build "$here/helm" helm helm.sh/helm/v3/cmd/helm "$helm_ldflags"
build_node
echo "controlplane: ready in $bin"

#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl, helm),
# the test node's kubelet and kube-scheduler, and Argo Workflows (workflow-controller,
# argoexec, its install manifests) from the Go modules pinned beside this script, into a
# git-ignored cache. `build.sh node` builds only the node's two, `build.sh argo` only Argo's
# (the suite asks for them when a test first needs them; `make test` builds everything up front).
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
argo_module=github.com/argoproj/argo-workflows/v3
argo_version="$(pinned "$here/argo" "$argo_module")"
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

build() { # build MODULE_DIR OUTPUT_NAME PACKAGE [LDFLAGS [GO_BUILD_FLAGS]]
  local dir="$1" name="$2" pkg="$3" extra="${4:-}" flags="${5:-}"
  local want; want="$(stamp_of "$dir" "$extra${flags:+ $flags}")"
  if [[ -x "$bin/$name" && -f "$bin/$name.stamp" && "$(cat "$bin/$name.stamp")" == "$want" ]]; then
    echo "controlplane: $name is cached ($bin/$name)"
    return
  fi
  echo "controlplane: building $name from $pkg (first time takes minutes) ..."
  local start=$SECONDS
  # shellcheck disable=SC2086 # flags: words on purpose
  (cd "$dir" && go build $flags -trimpath -ldflags="-s -w $extra" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$want" > "$bin/$name.stamp"
  echo "controlplane: built $name in $((SECONDS - start))s"
}

build_node() {
  build "$here/node" kubelet k8s.io/kubernetes/cmd/kubelet "$k8s_ldflags"
  build "$here/node" kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
}

# --- Argo Workflows ------------------------------------------------------------------------
build_argo() {
  # Argo's Makefile stamps these; the controller logs them and `argoexec version` prints them.
  # Argo calls a build a release (version = the tag) only with the tag's commit, which the module
  # proxy records in the version's .info file (no git tree here to ask).
  argo_json="$(cd "$here/argo" && go mod download -json "$argo_module")"
  argo_info="$(sed -n 's/.*"Info": "\(.*\)".*/\1/p' <<< "$argo_json")"
  argo_dir="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<< "$argo_json")"
  argo_commit="$(grep -o '"Hash":"[0-9a-f]\{40\}"' "$argo_info" | cut -d'"' -f4 || true)"
  argo_ldflags="-X $argo_module.version=$argo_version -X $argo_module.gitTag=$argo_version \
-X $argo_module.gitCommit=$argo_commit -X $argo_module.gitTreeState=clean"

  # argoexec does not build from Argo's module as the proxy serves it ("osspecific/command_unix.go:
  # undefined: Setpgid"): upstream's workflow/executor/osspecific/signal_linux.go is a symbolic
  # link to signal_darwin.go, and Go module zips leave symbolic links out. So both Argo commands
  # are built from a copy of the module (checked against go.sum when it was downloaded) with that
  # one link put back as upstream's tree has it, through a -modfile that replaces the module with
  # the copy. Nothing of Argo's is edited or kept in this repository.
  argo_src="$cache/argo-src"
  argo_link=workflow/executor/osspecific/signal_linux.go
  argo_src_want="$argo_version $argo_link"
  if [[ ! -f "$argo_src/.stamp" || "$(cat "$argo_src/.stamp")" != "$argo_src_want" ]]; then
    rm -rf "$argo_src" "$argo_src.tmp"
    cp -R "$argo_dir" "$argo_src.tmp"
    chmod -R u+w "$argo_src.tmp"
    ln -s signal_darwin.go "$argo_src.tmp/$argo_link"
    echo "$argo_src_want" > "$argo_src.tmp/.stamp"
    mv "$argo_src.tmp" "$argo_src"
  fi
  argo_build="$cache/argo-build"  # go.mod/go.sum beside this script, plus the replace
  mkdir -p "$argo_build"
  cp "$here/argo/go.mod" "$here/argo/go.sum" "$argo_build/"
  (cd "$here/argo" && go mod edit -modfile="$argo_build/go.mod" -replace="$argo_module=$argo_src")
  build "$here/argo" workflow-controller "$argo_module/cmd/workflow-controller" "$argo_ldflags" \
    "-modfile=$argo_build/go.mod"
  build "$here/argo" argoexec "$argo_module/cmd/argoexec" "$argo_ldflags" "-modfile=$argo_build/go.mod"

  # Argo's own install manifests (CRDs, the controller's ServiceAccount, RBAC and ConfigMap), as
  # its module ships them: the tests render them with `kubectl kustomize` from the copy above.
  ln -sfn "$argo_src/manifests" "$cache/argo-manifests"
}
if [[ "${1:-}" == "argo" ]]; then
  build_argo
  exit 0
fi
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
build_argo
echo "controlplane: ready in $bin"

#!/usr/bin/env bash
# Installs, from Debian's packages, what the test node and the image builds need, when missing:
# containerd + runc + the CNI plugins (the node), buildah + mmdebstrap (images built from
# packages, no registry), iptables (pods reach the host's loopback services) and dnsmasq
# (the pods' cluster DNS; dnsmasq-base: the program alone, no service started); see
# docs/development.md. CI starts on a clean machine that reaches only the package registries,
# so the suite installs these itself. Needs root, as the node does.
set -euo pipefail

need=()
for pair in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
            buildah:buildah mmdebstrap:mmdebstrap iptables:iptables dnsmasq:dnsmasq-base; do
  probe="${pair%%:*}" package="${pair#*:}"
  if [[ "$probe" == /* ]]; then [[ -e "$probe" ]] || need+=("$package")
  else command -v "$probe" >/dev/null || need+=("$package"); fi
done
if (( ${#need[@]} == 0 )); then
  exit 0
fi
echo "node packages: installing ${need[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a second test session) may hold the lock: wait for it rather than fail.
apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
if ! "${apt[@]}" install -y --no-install-recommends "${need[@]}" >&2; then
  "${apt[@]}" update >&2
  "${apt[@]}" install -y --no-install-recommends "${need[@]}" >&2
fi

"""A local stack for tests, benchmarks and the demo: a real control plane and the emulator.

Nothing here runs in a cluster. It starts the binaries that ``tests/controlplane/build.sh``
builds from pinned Go modules, so the operator can be exercised against a real
kube-apiserver on one laptop, without containers or a kubelet.
"""

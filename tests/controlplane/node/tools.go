//go:build tools

// Package tools records the node's commands that build.sh compiles, so `go mod tidy` keeps
// their modules. A module of its own (like ../helm): its go.sum changing never rebuilds the
// control plane's binaries, whose cache stamp is ../go.mod and ../go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)

//go:build tools

// Package tools records the commands build.sh compiles, so `go mod tidy` keeps their modules.
package tools

import (
	_ "github.com/argoproj/argo-workflows/v3/cmd/argoexec"
	_ "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller"
)

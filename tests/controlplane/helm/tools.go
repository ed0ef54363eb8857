//go:build tools

// Package tools records the command build.sh compiles, so `go mod tidy` keeps its module.
package tools

import _ "helm.sh/helm/v3/cmd/helm"

#!/usr/bin/env bash
# Regenerates the deep-copy functions of apis/ with deepcopy-gen (fetched through the module proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
go run k8s.io/code-generator/cmd/deepcopy-gen@v0.37.2 \
  --go-header-file hack/boilerplate.go.txt \
  --output-file zz_generated.deepcopy.go \
  ./apis/kunos/v1

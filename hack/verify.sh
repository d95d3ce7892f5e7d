#!/usr/bin/env bash
# Static checks: formatting, vet, tidy go.mod files, generated code (deep-copy, CRDs) up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt: not formatted:"; echo "$unformatted"; fail=1; fi
go vet ./... || fail=1
(cd hack/bench && go vet ./...) || fail=1
for dir in . hack/bench; do
  (
    cd "$dir"
    cp go.mod /tmp/verify.go.mod.$$; cp go.sum /tmp/verify.go.sum.$$
    go mod tidy
    if ! diff -q go.mod /tmp/verify.go.mod.$$ >/dev/null || ! diff -q go.sum /tmp/verify.go.sum.$$ >/dev/null; then
      echo "go mod tidy changes $dir/go.mod or go.sum: run it and commit"; git diff --stat -- go.mod go.sum || true
      cp /tmp/verify.go.mod.$$ go.mod; cp /tmp/verify.go.sum.$$ go.sum
      exit 1
    fi
    rm -f /tmp/verify.go.mod.$$ /tmp/verify.go.sum.$$
  ) || fail=1
done
# Generated code (deep-copy functions, CRDs) must match its types.
tmp=$(mktemp -d)
generated=(apis/kunos/v1/zz_generated.deepcopy.go apis/kunos/v1/zz_generated.crds.yaml)
for f in "${generated[@]}"; do cp "$f" "$tmp/$(basename "$f")"; done
bash hack/update-codegen.sh
for f in "${generated[@]}"; do
  if ! diff -q "$tmp/$(basename "$f")" "$f" >/dev/null; then
    echo "$f is stale: run hack/update-codegen.sh and commit it"; diff -u "$tmp/$(basename "$f")" "$f" | head -20; fail=1
  fi
done
rm -rf "$tmp"
[ $fail -eq 0 ] && echo "verify: ok"
exit $fail

#!/bin/sh
# Builds the board into web/dist: generate the pm.v1 code from ../proto, typecheck, bundle.
#   sh build.sh            everything (what `npm run build` runs)
#   sh build.sh gen        only src/gen/ from the proto files
#   sh build.sh typecheck  gen + tsc --noEmit
#   sh build.sh bundle     gen + esbuild into dist/ (no typecheck)
# Needs `npm ci` first, and the repository's venv (its grpc_tools protoc hosts the plugin);
# PM_PYTHON overrides the interpreter.
set -eu
cd "$(dirname "$0")"
step="${1:-all}"
PYTHON="${PM_PYTHON:-../.venv/bin/python}"
BIN=node_modules/.bin

gen() {
  rm -rf src/gen
  mkdir -p src/gen
  "$PYTHON" -m grpc_tools.protoc -I../proto \
    --plugin=protoc-gen-es="$BIN/protoc-gen-es" \
    --es_out=src/gen --es_opt=target=ts \
    ../proto/pm/v1/*.proto
}

typecheck() {
  "$BIN/tsc" --noEmit -p tsconfig.json
}

bundle() {
  mkdir -p dist
  "$BIN/esbuild" src/main.ts --bundle --format=esm --target=es2022 --minify \
    --sourcemap --legal-comments=none --outfile=dist/app.js --log-level=warning
  cp static/index.html static/app.css dist/
}

case "$step" in
  gen) gen ;;
  typecheck) gen; typecheck ;;
  bundle) gen; bundle ;;
  all) gen; typecheck; bundle ;;
  *) echo "usage: build.sh [gen|typecheck|bundle]" >&2; exit 2 ;;
esac

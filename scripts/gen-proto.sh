#!/usr/bin/env bash
# Regenerates proto/gen/ from proto/**/*.proto with buf and ts-proto as a local plugin
# (grpc-tools cannot install here: its install step downloads a binary).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf proto/gen
# buf is fetched on demand: as a devDependency its optional per-platform packages,
# which this registry does not serve, make package-lock.json unusable for `npm ci`.
npx --yes @bufbuild/buf@1.75.0 generate
echo "generated: $(find proto/gen -name '*.ts' | sort | tr '\n' ' ')"

#!/usr/bin/env bash
# Regenerates proto/gen/ from proto/**/*.proto with buf and ts-proto as a local plugin
# (grpc-tools cannot install here: its install step downloads a binary).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf proto/gen
npx buf generate
echo "generated: $(find proto/gen -name '*.ts' | sort | tr '\n' ' ')"

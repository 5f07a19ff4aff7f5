#!/usr/bin/env bash
# certbound-stack as a bench target (contract: /work/shared/bench/README.md, "Adding a target"):
# certbound's TLS listener with a fixed response, the floor under the token endpoint (app.py).
set -euo pipefail
: "${BENCH_HOST:?}" "${BENCH_PORT:?}" "${BENCH_PKI:?}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="${CERTBOUND_REPO:-$(cd "$HERE/../../.." && pwd)}"
exec "$REPO/.venv/bin/python" "$REPO/bench/targets/certbound-stack/app.py" \
  --host "$BENCH_HOST" --port "$BENCH_PORT" --pki "$BENCH_PKI"

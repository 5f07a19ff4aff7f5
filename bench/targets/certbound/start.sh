#!/usr/bin/env bash
# certbound as a bench target (contract: /work/shared/bench/README.md, "Adding a target").
#
# Runs `certbound serve --json-logs` (the production log format) in the foreground on its embedded
# defaults (SQLite database and ES256 signing key in a data directory under $BENCH_STATE, JSON audit
# log to stderr) with the bench PKI's server certificate and root CA. Every tls_client_auth client of $BENCH_PKI/clients.json is registered with
# `certbound clients add` -- once per PKI, into a seed data directory that each start copies (the CLI
# takes about a second per call; the harness restarts the target for every round).
#
# The load goes to the mTLS alias listener (client certificate required, RFC 8705 section 5) on
# $BENCH_PORT; the issuer listener gets an ephemeral port. Env (optional):
#   CERTBOUND_BIN      the certbound executable (default: the repo's .venv/bin/certbound)
#   CERTBOUND_WORKERS  `serve --workers N` (default 1)
#   CERTBOUND_LISTENER mtls (default) | issuer: which listener gets $BENCH_PORT
set -euo pipefail
: "${BENCH_HOST:?}" "${BENCH_PORT:?}" "${BENCH_PKI:?}" "${BENCH_STATE:?}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="${CERTBOUND_REPO:-$(cd "$HERE/../../.." && pwd)}"
BIN="${CERTBOUND_BIN:-$REPO/.venv/bin/certbound}"
[ -x "$BIN" ] || { echo "certbound not found at $BIN (set CERTBOUND_BIN)" >&2; exit 1; }
PKI="$(cd "$BENCH_PKI" && pwd)"

SEED="${CERTBOUND_BENCH_SEED:-$PKI/certbound-seed}"
if [ ! -f "$SEED/.complete" ]; then
  rm -rf "$SEED" && mkdir -p "$SEED"
  python3 - "$PKI/clients.json" <<'PY' | while IFS=$'\t' read -r cid dn; do
import json, sys
for c in json.load(open(sys.argv[1]))["clients"]:
    print(f'{c["client_id"]}\t{c["tls_client_auth_subject_dn"]}')
PY
    "$BIN" clients add --data-dir "$SEED/data" --client-id "$cid" --auth-method tls_client_auth \
      --subject-dn "$dn" --grant-type client_credentials --scope "api:read" >/dev/null
  done
  touch "$SEED/.complete"
fi
rm -rf "$BENCH_STATE/data" && cp -a "$SEED/data" "$BENCH_STATE/data"

if [ "${CERTBOUND_LISTENER:-mtls}" = issuer ]; then PORTS=(--port "$BENCH_PORT" --mtls-port 0)
else PORTS=(--port 0 --mtls-port "$BENCH_PORT"); fi
exec "$BIN" serve --data-dir "$BENCH_STATE/data" --host "$BENCH_HOST" "${PORTS[@]}" \
  --issuer "https://$BENCH_HOST:$BENCH_PORT" --mtls-base-url "https://$BENCH_HOST:$BENCH_PORT" \
  --tls-cert "$PKI/server-chain.pem" --tls-key "$PKI/server.key" \
  --trust-anchors "$PKI/client-trust.pem" --json-logs \
  ${CERTBOUND_WORKERS:+--workers "$CERTBOUND_WORKERS"}

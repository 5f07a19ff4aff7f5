#!/usr/bin/env bash
# Interleaved in-process A/B of two checkouts' token path: CPU microseconds per request.
#
#   bench/tools/ab_inproc.sh OLD_SRC [NEW_SRC] [PAIRS] [REQUESTS]
#
# OLD_SRC / NEW_SRC: a checkout's src directory (NEW_SRC defaults to this repo's src), e.g. from
# `git worktree add /tmp/old HEAD~1` -> /tmp/old/src. Runs bench/tools/inproc.py (the repo venv,
# pinned to CPU 1, audit log to /dev/null) alternately for each checkout PAIRS times (8) with
# REQUESTS requests each (3000), then prints both medians and the median of the per-pair ratios
# new/old. Interleaving is what makes a few per cent visible on a drifting VM; callgrind counts
# instructions exactly but not their cost (bench/README.md). Needs bench/.harness/pki (run
# bench/run.sh once). A development tool, not part of the test suite.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OLD="${1:?usage: ab_inproc.sh OLD_SRC [NEW_SRC] [PAIRS] [REQUESTS]}"
NEW="${2:-$REPO/src}"
PAIRS="${3:-8}"
N="${4:-3000}"
PKI="$REPO/bench/.harness/pki"
for d in "$OLD" "$NEW"; do
  [ -f "$d/certbound/__init__.py" ] || { echo "ab_inproc: $d is not a src directory holding certbound" >&2; exit 2; }
done
[[ "$PAIRS" =~ ^[1-9][0-9]*$ && "$N" =~ ^[1-9][0-9]*$ ]] || { echo "ab_inproc: PAIRS and REQUESTS are positive integers" >&2; exit 2; }
[ -f "$PKI/clients.json" ] || { echo "ab_inproc: no $PKI (run bench/run.sh once)" >&2; exit 2; }
pin=(); command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ] && pin=(taskset -c 1)
one() { # one SRC -> CPU us per request
  PYTHONPATH="$1" "${pin[@]}" "$REPO/.venv/bin/python" "$REPO/bench/tools/inproc.py" --pki "$PKI" \
    -n "$N" --json-logs --quiet-logs | awk '{print $6}'
}
results=()
for i in $(seq 1 "$PAIRS"); do
  o="$(one "$OLD")"; n="$(one "$NEW")"
  echo "pair $i: old $o us, new $n us" >&2
  results+=("$o $n")
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
pairs = [tuple(map(float, line.split())) for line in sys.stdin if line.strip()]
old, new = [p[0] for p in pairs], [p[1] for p in pairs]
ratios = [n / o for o, n in pairs]
print(f"old: median {statistics.median(old):.1f} us CPU per request ({min(old):.0f}-{max(old):.0f})")
print(f"new: median {statistics.median(new):.1f} us CPU per request ({min(new):.0f}-{max(new):.0f})")
print(f"new/old: median of {len(ratios)} pairs {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})")
'

#!/usr/bin/env bash
# certbound benchmark: token endpoint side by side with node-oidc-provider and nginx, the resource
# server's bound-token verification, and worker scaling. See bench/README.md.
#
#   bench/run.sh [PHASE ...]        PHASE: as | rs | workers | soak   (default: as rs workers)
#
#   as       ../shared/bench's harness (copied to bench/.harness, certbound added as a target):
#            nginx, oidc-provider and certbound, keep-alive (16 connections) and new connection
#            per request; server pinned to CPU 1, load generator to CPU 0; req/s, p50/p99, errors,
#            server CPU s per 1,000 requests, RSS.
#   rs       certbound's resource server (bench/targets/certbound-rs/app.py) pinned to CPU 1:
#            GET /resource with one bound token reused over 16 keep-alive connections.
#   workers  certbound with --workers 1 and --workers 2, unpinned (server and load generator
#            share both cores), keep-alive: the scaling ratio, with the harness's Node load
#            generator and with tools/mtls_load.c (C, a fraction of Node's CPU per request; built
#            when cc and OpenSSL's headers are there); $BENCH_WORKER_ROUNDS interleaved rounds (3).
#   soak     certbound under keep-alive load for $BENCH_SOAK_SECONDS (300), RSS sampled every 10 s.
#
# Environment: every BENCH_* variable of the harness (BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP,
# BENCH_CONNS, BENCH_MODES, ...; see .harness/README.md) applies to the "as" phase, and
# BENCH_DURATION / BENCH_WARMUP / BENCH_CONNS to the others. Also:
#   BENCH_HARNESS_SRC   the harness to copy (default: <repo>/../shared/bench)
#   BENCH_AS_TARGETS    targets of the "as" phase (default: "nginx oidc-provider certbound")
#   BENCH_CERTBOUND_PYTHON  also run certbound on this interpreter in the "as" phase, as target
#                       certbound-alt (e.g. /usr/bin/python3.11, a distribution's PGO+LTO build):
#                       an editable install of the repo in bench/.harness/venv-alt
#   BENCH_SOAK_SECONDS  length of the soak phase (default 300, at most 3600)
#   BENCH_WORKER_ROUNDS rounds of the workers phase (default 3; each about 80 s)
#   BENCH_RESULTS       output directory (default: bench/results/<UTC timestamp>)
# Bounds: 127.0.0.1 only, ports 9443-9459, every load-generator run under `timeout`, every server
# stopped by PID. Not part of the test suite.
set -uo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"
SRC="${BENCH_HARNESS_SRC:-$REPO/../shared/bench}"
H="$BENCH/.harness"
OUT="${BENCH_RESULTS:-$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-5}"
CONNS="${BENCH_CONNS:-16}"
SOAK="${BENCH_SOAK_SECONDS:-300}"
WORKER_ROUNDS="${BENCH_WORKER_ROUNDS:-3}"
HOST=127.0.0.1
export CERTBOUND_REPO="$REPO"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }
isnum() { [[ "$1" =~ ^[0-9]+$ ]]; }
isnum "$DURATION" && isnum "$WARMUP" && isnum "$CONNS" && isnum "$SOAK" && isnum "$WORKER_ROUNDS" \
  || die "BENCH_DURATION, BENCH_WARMUP, BENCH_CONNS, BENCH_SOAK_SECONDS and BENCH_WORKER_ROUNDS must be integers"
[ "$SOAK" -le 3600 ] || die "BENCH_SOAK_SECONDS is at most 3600"
[ "$WORKER_ROUNDS" -ge 1 ] || die "BENCH_WORKER_ROUNDS is at least 1"
PHASES=("$@"); [ "${#PHASES[@]}" -gt 0 ] || PHASES=(as rs workers)
for p in "${PHASES[@]}"; do case "$p" in as|rs|workers|soak) ;; *) die "unknown phase $p" ;; esac; done
[ -d "$SRC" ] && [ -x "$SRC/run.sh" ] || die "no harness at $SRC (set BENCH_HARNESS_SRC)"
[ -x "$REPO/.venv/bin/certbound" ] || die "no $REPO/.venv/bin/certbound (create the venv first)"

# ------------------------------------------------------------------ the harness copy
# shared/ is read-only: copy it (keeping node_modules and the generated PKI between runs), then add
# certbound's targets. The copy is git-ignored.
mkdir -p "$H" "$OUT"
rsync -a --delete --exclude node_modules/ --exclude results/ --exclude 'pki*/' --exclude venv-alt/ "$SRC/" "$H/" \
  || die "cannot copy $SRC"
chmod -R u+w "$H"
for t in certbound certbound-stack; do
  rm -rf "$H/targets/$t" && cp -r "$BENCH/targets/$t" "$H/targets/$t"
done
if [ ! -d "$H/node_modules/oidc-provider" ] || [ ! -d "$H/node_modules/undici" ]; then
  log "npm ci in $H"; (cd "$H" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed"
fi
PKI="$H/pki"
[ -f "$PKI/clients.json" ] || python3 "$H/pki.py" --out "$PKI" --clients 8 --key-type ec --force >&2 \
  || die "PKI generation failed"
PROCTREE=(python3 "$H/lib/proctree.py")

# The C load generator (tools/mtls_load.c) for the workers phase: built when a C compiler and
# OpenSSL's headers are there (Debian: gcc, libssl-dev); its identities are the PKI's clients.
CLOAD="$H/mtls-load" IDS="$H/pki-identities.tsv"
if [ ! -x "$CLOAD" ] || [ "$BENCH/tools/mtls_load.c" -nt "$CLOAD" ]; then
  cc -O2 -o "$CLOAD" "$BENCH/tools/mtls_load.c" -lssl -lcrypto 2>"$H/mtls-load.build.log" \
    || { rm -f "$CLOAD"; log "no C load generator (see $H/mtls-load.build.log): workers phase uses Node's only"; }
fi
python3 - "$PKI" >"$IDS" <<'EOF'
import json, sys
pki = sys.argv[1]
for c in json.load(open(f"{pki}/clients.json"))["clients"]:
    print(f"{pki}/{c['chain']}\t{pki}/{c['key']}\tgrant_type=client_credentials&client_id={c['client_id']}")
EOF

# ------------------------------------------------------------------ helpers (processes by PID only)
declare -a STARTED=()
stop_pid() { # SIGTERM a server we started and its descendants; SIGKILL after ~8 s
  local root="$1" pids i
  pids="$("${PROCTREE[@]}" pids "$root" 2>/dev/null | tr '\n' ' ')"
  kill -TERM "$root" 2>/dev/null
  for i in $(seq 1 40); do
    local alive=""; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break; sleep 0.2
  done
  for p in $pids; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
  wait "$root" 2>/dev/null
}
cleanup() { local p; for p in "${STARTED[@]}"; do stop_pid "$p"; done; STARTED=(); }
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
wait_status() { # wait_status EXPECTED SECONDS curl-args... -> 0 when curl answers EXPECTED
  local want="$1" secs="$2" st; shift 2
  local end=$((SECONDS + secs))
  while [ "$SECONDS" -lt "$end" ]; do
    st="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$PKI/ca-bundle.pem" "$@")"
    [ "$st" = "$want" ] && return 0
    sleep 0.3
  done
  log "last status $st (wanted $want): curl $*"; return 1
}
client_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clients"][int(sys.argv[2])][sys.argv[3]])' "$PKI/clients.json" "$1" "$2"; }
mem_by_process() { # "pid rss_MiB pss_MiB" for each process of the tree
  local p; for p in $("${PROCTREE[@]}" pids "$1"); do
    awk -v p="$p" '/^VmRSS/ {r=$2} END {printf "%s %.1f", p, r/1024}' "/proc/$p/status" 2>/dev/null
    awk '/^Pss:/ {printf " %.1f\n", $2/1024; exit}' "/proc/$p/smaps_rollup" 2>/dev/null
  done
}

# measure NAME MODE SERVER_PID OUTFILE loadgen-args...: warm-up, measured run, one results.jsonl row
measure() { # LOADGEN=c: tools/mtls_load.c instead of the harness's loadgen.mjs (keep-alive only)
  local name="$1" mode="$2" pid="$3" out="$4"; shift 4
  local lg=(node "$H/loadgen.mjs" --mode "$mode" --connections "$CONNS" --insecure --json --label "$name" "$@")
  [ "${LOADGEN:-node}" = c ] && lg=("$CLOAD" --connections "$CONNS" --json --label "$name" "$@")
  local cpin=(); [ -n "${CLIENT_CPUS:-}" ] && cpin=(taskset -c "$CLIENT_CPUS")
  [ "$WARMUP" -gt 0 ] && timeout $((WARMUP + 40)) "${cpin[@]}" "${lg[@]}" --duration "$WARMUP" \
    --max-error-ratio 1 >/dev/null 2>&1
  local c0 c1 rc
  c0="$("${PROCTREE[@]}" cpu "$pid")"
  timeout $((DURATION + 40)) "${cpin[@]}" "${lg[@]}" --duration "$DURATION" >"$out.json" 2>"$out.err"
  rc=$?
  c1="$("${PROCTREE[@]}" cpu "$pid")"
  python3 - "$out.json" "$name" "$c0" "$c1" "$rc" "${ROUND:-1}" <<'EOF' >>"$out.jsonl"
import json, sys
path, name, c0, c1, rc, rnd = sys.argv[1:]
try:
    r = json.loads(open(path).read().strip().splitlines()[-1])
except Exception as e:
    print(json.dumps({"target": name, "mode": "-", "round": 1, "failed": f"no loadgen result: {e}"}))
    sys.exit(0)
cpu = float(c1) - float(c0)
ok = r["requests_ok"]
r.update({"target": name, "round": int(rnd), "loadgen_rc": int(rc), "server_cpu_s": round(cpu, 2),
          "server_cpu_s_per_1k": round(cpu / (ok / 1000), 4) if ok else None,
          "server_cpu_pct": round(100 * cpu / r["duration_s"], 1) if r["duration_s"] else None})
print(json.dumps(r))
EOF
  log "$name $mode: $(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(r.get("rps"), "req/s, errors", r.get("errors"), ",", r.get("server_cpu_s_per_1k"), "s CPU/1k req,", r.get("server_cpu_pct"), "% of a core")' "$out.jsonl" 2>/dev/null)"
}
memory_row() { # memory_row NAME PID IDLE_RSS_KIB OUTFILE
  local rss hwm pss n
  read -r rss hwm pss n < <("${PROCTREE[@]}" mem "$2")
  python3 -c 'import json,sys; n,i,r,h,p,k=sys.argv[1:]; print(json.dumps({"target":n,"mode":"memory","round":1,"idle_rss_kib":int(i),"rss_kib":int(r),"hwm_kib":int(h),"pss_kib":int(p),"nprocs":int(k)}))' \
    "$1" "$3" "$rss" "$hwm" "$pss" "$n" >>"$4.jsonl"
}
start_certbound() { # start_certbound NAME PORT STATE CPUS [ENV=VALUE ...] -> sets SERVER_PID
  local name="$1" port="$2" state="$3" cpus="$4"; shift 4
  mkdir -p "$state"
  local pin=(); [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  env "$@" BENCH_HOST="$HOST" BENCH_PORT="$port" BENCH_PKI="$PKI" BENCH_STATE="$state" \
    "${pin[@]}" "$H/targets/certbound/start.sh" >"$state/server.log" 2>&1 &
  SERVER_PID=$!; STARTED+=("$SERVER_PID")
}

CERT0="$PKI/$(client_field 0 chain)"; KEY0="$PKI/$(client_field 0 key)"; CID0="$(client_field 0 client_id)"
CERT1="$PKI/$(client_field 1 chain)"; KEY1="$PKI/$(client_field 1 key)"

alt_venv() { # alt_venv PYTHON: bench/.harness/venv-alt with certbound (editable) on PYTHON
  local py="$1" v="$H/venv-alt" want have
  want="$("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')" || return 1
  have="$(cat "$v/.for" 2>/dev/null)"
  if [ "$want" != "$have" ] || [ ! -x "$v/bin/certbound" ]; then
    log "venv for $want in $v"
    rm -rf "$v" && "$py" -m venv --without-pip "$v" || return 1  # pip comes from the repo's venv
    "$REPO/.venv/bin/pip" --python "$v/bin/python" install -q -e "$REPO" >"$H/venv-alt.log" 2>&1 \
      || { tail -n 20 "$H/venv-alt.log" >&2; return 1; }
    echo "$want" >"$v/.for"
  fi
  log "certbound-alt: certbound on $want"
}

# ------------------------------------------------------------------ phases
phase_as() {
  local targets; read -r -a targets <<<"${BENCH_AS_TARGETS:-nginx oidc-provider certbound}"
  if [[ " ${targets[*]} " == *" nginx "* ]] && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    die "nginx is not installed (Debian: apt-get install -y nginx), or set BENCH_AS_TARGETS"
  fi
  if [ -n "${BENCH_CERTBOUND_PYTHON:-}" ]; then
    alt_venv "$BENCH_CERTBOUND_PYTHON" || die "cannot make a venv for $BENCH_CERTBOUND_PYTHON"
    targets+=("certbound-alt=CERTBOUND_BIN=$H/venv-alt/bin/certbound exec $H/targets/certbound/start.sh")
  fi
  log "phase as: ${targets[*]}"
  (cd "$H" && BENCH_OUT="$OUT/as" ./run.sh "${targets[@]}") || log "the harness exited with status $?"
}

phase_rs() {
  log "phase rs: resource server, one bound token, $CONNS keep-alive connections"
  local dir="$OUT/rs" as_port=9456 rs_port=9457 as_pid rs_pid token idle
  mkdir -p "$dir"
  ! port_open "$as_port" && ! port_open "$rs_port" || { log "port $as_port or $rs_port busy; skipping rs"; return; }
  # the AS on its issuer listener (client certificate optional: the RS reads discovery and JWKS)
  start_certbound certbound-as "$as_port" "$dir/as" 0 CERTBOUND_LISTENER=issuer; as_pid=$SERVER_PID
  wait_status 200 120 --cert "$CERT0" --key "$KEY0" -d grant_type=client_credentials -d "client_id=$CID0" \
    "https://$HOST:$as_port/token" || { log "the AS did not start"; tail "$dir/as/server.log" >&2; return; }
  token="$(curl -s --cacert "$PKI/ca-bundle.pem" --cert "$CERT0" --key "$KEY0" -d grant_type=client_credentials \
    -d "client_id=$CID0" "https://$HOST:$as_port/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
  taskset -c 1 "$REPO/.venv/bin/python" "$BENCH/targets/certbound-rs/app.py" --port "$rs_port" \
    --issuer "https://$HOST:$as_port" --pki "$PKI" >"$dir/rs-server.log" 2>&1 &
  rs_pid=$!; STARTED+=("$rs_pid")
  local auth=(-H "authorization: Bearer $token")
  wait_status 200 60 --cert "$CERT0" --key "$KEY0" "${auth[@]}" "https://$HOST:$rs_port/resource" \
    || { log "the RS did not start"; tail "$dir/rs-server.log" >&2; return; }
  wait_status 401 5 --cert "$CERT1" --key "$KEY1" "${auth[@]}" "https://$HOST:$rs_port/resource" \
    && log "the token presented with another client's certificate: 401 (binding checked)" \
    || log "WARNING: the bound token was accepted with another certificate"
  read -r idle _ < <("${PROCTREE[@]}" mem "$rs_pid")
  CLIENT_CPUS=0 measure certbound-rs keepalive "$rs_pid" "$dir/results" \
    --url "https://$HOST:$rs_port/resource" --cert "$CERT0" --key "$KEY0" --method GET \
    --header "authorization: Bearer $token"
  memory_row certbound-rs "$rs_pid" "$idle" "$dir/results"
  python3 "$H/lib/report.py" "$dir/results.jsonl" | tee "$dir/table.md"
  stop_pid "$rs_pid"; stop_pid "$as_pid"; STARTED=()
}

workers_run() { # workers_run DIR PORT N LOADGEN ROUND: one --workers N measurement; 1 = port busy
  local dir="$1" port="$2" n="$3" lg="$4" round="$5" pid idle name="certbound-w$3"
  [ "$lg" = c ] && name="certbound-w$n-cload"
  port_open "$port" && { log "port $port busy; skipping"; return 1; }
  start_certbound "$name" "$port" "$dir/$name" "" CERTBOUND_WORKERS="$n"; pid=$SERVER_PID
  wait_status 200 120 --cert "$CERT0" --key "$KEY0" -d grant_type=client_credentials -d "client_id=$CID0" \
    "https://$HOST:$port/token" || { tail "$dir/$name/server.log" >&2; stop_pid "$pid"; STARTED=(); return 0; }
  sleep 1
  read -r idle _ < <("${PROCTREE[@]}" mem "$pid")
  mem_by_process "$pid" | sed "s/^/$name idle pid rss_MiB pss_MiB: /" >>"$dir/per-process-memory.txt"
  local target=(--url "https://$HOST:$port/token" --pki "$PKI")
  [ "$lg" = c ] && target=(--url "https://$HOST:$port/token" --identities "$IDS"
    --header "content-type: application/x-www-form-urlencoded")
  ROUND=$round LOADGEN=$lg CLIENT_CPUS="" measure "$name" keepalive "$pid" "$dir/results" "${target[@]}"
  [ "$round" = 1 ] && memory_row "$name" "$pid" "$idle" "$dir/results"
  mem_by_process "$pid" | sed "s/^/$name after pid rss_MiB pss_MiB: /" >>"$dir/per-process-memory.txt"
  stop_pid "$pid"; STARTED=()
  for _ in $(seq 1 25); do port_open "$port" || break; sleep 0.2; done
}

phase_workers() {
  log "phase workers: --workers 1 vs 2, unpinned, keep-alive"
  local dir="$OUT/workers" round lg n
  local loadgens=(node); [ -x "$CLOAD" ] && loadgens+=(c)
  mkdir -p "$dir"
  for round in $(seq 1 "$WORKER_ROUNDS"); do
    for lg in "${loadgens[@]}"; do
      for n in 1 2; do workers_run "$dir" 9458 "$n" "$lg" "$round" || return; done
    done
  done
  python3 "$H/lib/report.py" "$dir/results.jsonl" | tee "$dir/table.md"
  cat "$dir/per-process-memory.txt"
  python3 - "$dir/results.jsonl" <<'EOF' | tee -a "$dir/table.md"
import json, statistics, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r.get("mode") == "keepalive"]
def by_round(target):
    return {r["round"]: r for r in rows if r["target"] == target and r.get("rps")}
for suffix, loadgen in (("", "Node load generator (loadgen.mjs)"), ("-cload", "C load generator (mtls-load)")):
    ones, twos = by_round(f"certbound-w1{suffix}"), by_round(f"certbound-w2{suffix}")
    pairs = [(ones[k], twos[k]) for k in sorted(ones.keys() & twos.keys())]
    if not pairs:
        continue
    ratios = [two["rps"] / one["rps"] for one, two in pairs]
    cpu = [two["server_cpu_s_per_1k"] / one["server_cpu_s_per_1k"] for one, two in pairs
           if one.get("server_cpu_s_per_1k") and two.get("server_cpu_s_per_1k")]
    busy = [(two.get("server_cpu_pct") or 0) + (two.get("client_cpu_pct") or 0) for _, two in pairs]
    client = [two.get("client_cpu_pct") or 0 for _, two in pairs]
    print(f"\n{loadgen}: 2 workers / 1 worker, keep-alive req/s: {statistics.median(ratios):.2f}x"
          f" (median of {len(ratios)}: {', '.join(f'{x:.2f}' for x in ratios)})")
    if cpu:  # the load generator shares the cores: also report CPU per request
        per = statistics.median(cpu)
        print(f"server CPU per request, 2 workers / 1: {per:.2f}x; two workers with two cores to "
              f"themselves: ~{2 / per:.2f}x one worker (server + load generator used "
              f"{statistics.median(busy):.0f} % of 200 %, the load generator {statistics.median(client):.0f} %)")
EOF
}

phase_soak() {
  log "phase soak: $SOAK s of keep-alive load, RSS every 10 s"
  local dir="$OUT/soak" port=9459 pid lg
  mkdir -p "$dir"
  start_certbound certbound-soak "$port" "$dir" 1; pid=$SERVER_PID
  wait_status 200 120 --cert "$CERT0" --key "$KEY0" -d grant_type=client_credentials -d "client_id=$CID0" \
    "https://$HOST:$port/token" || { tail "$dir/server.log" >&2; return; }
  echo "elapsed_s rss_kib hwm_kib pss_kib" >"$dir/rss.txt"
  echo "0 $("${PROCTREE[@]}" mem "$pid" | cut -d' ' -f1-3)" >>"$dir/rss.txt"
  timeout $((SOAK + 60)) taskset -c 0 node "$H/loadgen.mjs" --url "https://$HOST:$port/token" --pki "$PKI" \
    --mode keepalive --connections "$CONNS" --insecure --duration "$SOAK" --json >"$dir/loadgen.json" 2>"$dir/loadgen.err" &
  lg=$!
  local t=0
  while kill -0 "$lg" 2>/dev/null && [ "$t" -lt $((SOAK + 60)) ]; do
    sleep 10; t=$((t + 10)); echo "$t $("${PROCTREE[@]}" mem "$pid" | cut -d' ' -f1-3)" >>"$dir/rss.txt"
  done
  wait "$lg"
  sleep 2; echo "idle $("${PROCTREE[@]}" mem "$pid" | cut -d' ' -f1-3)" >>"$dir/rss.txt"
  stop_pid "$pid"; STARTED=()
  python3 - "$dir/rss.txt" "$dir/loadgen.json" <<'EOF' | tee "$dir/table.md"
import json, sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
load = [(int(t), int(r)) for t, r, *_ in rows if t.isdigit()]
r = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
first_min = [v for t, v in load if 30 <= t <= 90] or [load[0][1]]
last_min = [v for t, v in load if t >= load[-1][0] - 60]
print(f"soak: {r['requests_ok']:,} requests in {r['duration_s']} s ({r['rps']} req/s, errors {r['errors']})")
print(f"RSS MiB: start {load[0][1]/1024:.1f}, minute 1 {max(first_min)/1024:.1f}, "
      f"last minute {max(last_min)/1024:.1f}, max {max(v for _, v in load)/1024:.1f}, "
      f"after (idle) {int(rows[-1][1])/1024:.1f}")
EOF
}

log "results: $OUT"
for p in "${PHASES[@]}"; do "phase_$p"; done
log "done: $OUT"

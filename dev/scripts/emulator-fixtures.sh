#!/usr/bin/env bash
# Every events/ fixture through cargo-lambda's runtime emulator, against the real function
# binaries — the way docs/development.md tells users to run a function without Docker:
#   leadsync-dev local up            (writes .local/functions.env)
#   cargo lambda watch --env-file .local/functions.env
#   cargo lambda invoke <function> --data-file events/<fixture>
# Both background processes bind to 127.0.0.1 on free ports and are stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
PATH="$PWD/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda is missing: run make tools" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

cargo build -q -p leadsync-dev -p ingress -p consumer -p backfill
rm -f .local/functions.env
./target/debug/leadsync-dev local up >"$work/stack.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -s .local/functions.env ] && break; sleep 0.2; done
[ -s .local/functions.env ] || { cat "$work/stack.log"; echo "the local stack did not start" >&2; exit 1; }

port=$(free_port)
# The Marketplace fixtures carry a fixed timestamp (docs/development.md, "Tests").
cargo lambda watch --ignore-changes --quiet -A 127.0.0.1 -P "$port" \
  --env-file .local/functions.env --env-var GHL_WEBHOOK_TOLERANCE_SECS=3153600000 \
  >"$work/watch.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

failed=0
for fixture in events/*.json; do
  name=$(basename "$fixture")
  case "$name" in
    apigw-*) fn=ingress ;;
    sqs-*) fn=consumer ;;
    backfill-*) fn=backfill ;;
    *) echo "FAIL $name: no function for this fixture"; failed=1; continue ;;
  esac
  if ! out=$(cargo lambda invoke "$fn" --data-file "$fixture" -A 127.0.0.1 -P "$port" --output-format json 2>&1); then
    echo "FAIL $name → $fn: $out"; failed=1; continue
  fi
  verdict=$(python3 - "$out" <<'PY'
import json, sys
try:
    answer = json.loads(sys.argv[1])
except ValueError:
    print("not JSON"); sys.exit()
status = answer.get("statusCode") if isinstance(answer, dict) else None
if status is not None and not 200 <= status < 300:
    print(f"status {status}")
elif isinstance(answer, dict) and answer.get("batchItemFailures"):
    print("records failed back")
else:
    print("ok" if status is None else f"ok {status}")
PY
)
  case "$verdict" in
    ok*) echo "ok   $name → $fn ($verdict)" ;;
    *) echo "FAIL $name → $fn: $verdict: $out"; failed=1 ;;
  esac
done
if [ "$failed" != 0 ]; then
  echo "--- cargo lambda watch"; tail -50 "$work/watch.log"
  exit 1
fi
echo "every events/ fixture answered through cargo lambda watch"

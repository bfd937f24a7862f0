#!/usr/bin/env bash
# Load run of `loupe serve` (docs/serve.md "Load and overhead"): starts the server on the credit models
# (examples/serving/serve_credit.yaml, access log off) and runs wrk with 32 connections against
#   1. POST :predict, one row per request (credit-xgb);
#   2. POST :explain, one row per request (TreeSHAP on credit-xgb);
#   3. a mix: every fourth request an :explain, the others :predict;
# printing wrk's throughput and latency percentiles, the non-2xx count, and the server's resident memory
# before and after. Usage: bench/serve_load.sh BUILD_DIR [SECONDS_PER_RUN]   (needs wrk: apt install wrk)
set -euo pipefail
build=${1:?usage: serve_load.sh BUILD_DIR [SECONDS]}
seconds=${2:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

sed -e 's/^access_log: true/access_log: false/' -e 's/port: 8080/port: 0/' \
    -e "s#\.\./credit_scoring#$here/examples/credit_scoring#g" -e 's/queue_length: 16/queue_length: 64/' \
    "$here/examples/serving/serve_credit.yaml" > "$work/serve.yaml"
"$build/bin/loupe" serve --config "$work/serve.yaml" 2> "$work/stderr" &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$work/stderr" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$work/stderr")
[ -n "$port" ] || { cat "$work/stderr"; exit 1; }

row='[9, "rent", 60, 30, "married", "no", "freelance", 73, 129, 0, 0, 800, 846]'
cat > "$work/mixed.lua" <<LUA
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"instances": [$row]}'
request = function()
  n = n + 1
  local verb = (n % 4 == 0) and "explain" or "predict"
  return wrk.format(nil, "/v1/models/credit-xgb:" .. verb)
end
LUA
sed -e 's/(n % 4 == 0) and "explain" or "predict"/"predict"/' "$work/mixed.lua" > "$work/predict.lua"
sed -e 's/(n % 4 == 0) and "explain" or "predict"/"explain"/' "$work/mixed.lua" > "$work/explain.lua"

rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$server/status"; }
curl -s -o /dev/null "http://127.0.0.1:$port/v1/models/credit-xgb:predict" -d "{\"instances\": [$row]}"
echo "server RSS after one request: $(rss)"
for run in predict explain mixed; do
  echo "== $run: 32 connections, 2 threads, ${seconds} s"
  wrk -t 2 -c 32 -d "${seconds}s" --latency -s "$work/$run.lua" "http://127.0.0.1:$port" |
    grep -E "requests in|Requests/sec|Non-2xx|Socket errors|50%|99%"
  echo "server RSS: $(rss)"
done
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^loupe_http_requests_total' || true

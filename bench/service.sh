#!/usr/bin/env bash
# Throughput of `facecmp serve` for access decisions, measured with wrk on
# loopback: one enrolled person, one granted zone, every request a 1-face
# photo (obama2.jpg, 626×1200 JPEG) that is allowed.
#   bench/service.sh [SECONDS] [CONNECTIONS]      (needs `apt-get install wrk`)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
connections=${2:-4}
facecmp=target/release/facecmp
[ -x "$facecmp" ] || cargo build --release -p facecmp-cli
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
export FACECMP_DB=$work/bench.db
"$facecmp" gallery init "$FACECMP_DB" >/dev/null
"$facecmp" enroll --name Obama --zone 5 tests/data/obama.jpg >/dev/null
key=$("$facecmp" keys create --role camera --name wrk 2>/dev/null)
port=$((20000 + RANDOM % 20000))
RUST_LOG=warn "$facecmp" serve --listen "127.0.0.1:$port" &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
# One request to check the answer is an allow, then the load.
curl -sf -H "Authorization: Bearer $key" --data-binary @tests/data/obama2.jpg \
  "http://127.0.0.1:$port/v1/access?zone=5" | grep -q '"allowed":true'
FACECMP_KEY=$key wrk -t"$(( connections < 2 ? 1 : 2 ))" -c"$connections" -d"${seconds}s" --latency -s bench/access.lua \
  "http://127.0.0.1:$port/v1/access?zone=5"
echo "events recorded: $("$facecmp" events --limit 1000000 | wc -l)"

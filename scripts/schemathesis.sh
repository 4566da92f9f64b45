#!/usr/bin/env bash
# Checks that the service and its OpenAPI document agree: starts `facecmp
# serve` on a free loopback port over a fresh gallery with an admin key, and
# runs Schemathesis against it with every check, a bounded number of examples
# per operation, a fixed seed and the stateful phase. Fails on any finding.
#
#   scripts/schemathesis.sh                     # uses target/debug/facecmp
#   FACECMP=target/release/facecmp ST=/path/to/venv/bin/st scripts/schemathesis.sh
#
# Without ST, Schemathesis is installed into target/schemathesis-venv (PyPI,
# schemathesis 4.32). Extra arguments are passed to `st run`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
facecmp=${FACECMP:-$root/target/debug/facecmp}
examples=${MAX_EXAMPLES:-20}
budget=${ST_TIMEOUT:-900}

if [ -z "${ST:-}" ]; then
    venv=$root/target/schemathesis-venv
    if [ ! -x "$venv/bin/st" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "schemathesis==4.32.*"
    fi
    ST=$venv/bin/st
fi

work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

export FACECMP_DB=$work/gallery.db
"$facecmp" gallery init "$FACECMP_DB" >/dev/null
key=$("$facecmp" keys create --role admin --name schemathesis 2>/dev/null | head -n 1)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$facecmp" --runtime tract serve --listen "127.0.0.1:$port" --workers 2 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 300); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$work/serve.log" >&2
        echo "schemathesis.sh: facecmp serve did not start" >&2
        exit 1
    fi
    sleep 0.2
done

echo "== schemathesis $("$ST" --version 2>/dev/null | tail -n 1) against http://127.0.0.1:$port (max $examples examples per operation, seed 1)"
status=0
timeout "$budget" "$ST" --config-file "$root/scripts/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks all \
    --max-examples "$examples" \
    --seed 1 \
    --phases examples,coverage,fuzzing,stateful \
    --continue-on-failure \
    --no-color \
    --exclude-path /v1/events/stream \
    "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "schemathesis.sh: findings (exit $status); the server's log:" >&2
    grep -E "ERROR|WARN" "$work/serve.log" | tail -n 40 >&2 || true
fi
exit "$status"

#!/usr/bin/env bash
# Usage: tests/with-stack.sh MOTO_PORT API_PORT COMMAND...
# Starts the local stack (`inlet dev`, as `make dev` does) on the given
# ports, waits for its ready line, runs COMMAND with INLET_E2E_API and
# INLET_TEST_AWS_ENDPOINT set, then stops the stack (Ctrl-C semantics).
# The stack's log goes into its own state directory, .dev/stack-API_PORT/,
# so stacks on other ports never share a file.
set -euo pipefail
moto_port=$1 api_port=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.dev/stack-$api_port"
log="$state/with-stack.log"
# Created readable by the user only; the command itself runs with the caller's umask.
(umask 077 && mkdir -p "$state" && : >"$log")
MOTO_PORT=$moto_port API_PORT=$api_port "$root/target/debug/inlet" dev >"$log" 2>&1 &
stack=$!
stop() {
  kill -INT $stack 2>/dev/null || true
  # `inlet dev` stops its children within seconds; never wait forever.
  for _ in $(seq 1 300); do kill -0 $stack 2>/dev/null || break; sleep 0.1; done
  kill -KILL $stack 2>/dev/null || true
  wait $stack 2>/dev/null || true
}
trap stop EXIT
deadline=$((SECONDS + 900))
until grep -q "inlet ready" "$log"; do
  if ! kill -0 $stack 2>/dev/null || (( SECONDS > deadline )); then
    echo "local stack did not become ready; its log:" >&2; tail -n 60 "$log" >&2; exit 1
  fi
  sleep 0.5
done
grep "inlet ready" "$log"
status=0
INLET_E2E_API="http://127.0.0.1:$api_port" INLET_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port" "$@" || status=$?
if (( status != 0 )); then echo "--- local stack log (tail) ---" >&2; tail -n 80 "$log" >&2; fi
exit $status

#!/usr/bin/env bash
# Usage: tests/with-moto.sh PORT COMMAND...
# Starts moto's server (tests/moto_server.py: each DynamoDB write atomic on its item, as
# on AWS) on 127.0.0.1:PORT, runs COMMAND, stops the server,
# and exits with COMMAND's status. Its log goes into .dev/moto-PORT/, a
# directory of its own readable by the user only.
set -euo pipefail
port=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.dev/moto-$port"
log="$state/moto.log"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is already in use; set TEST_MOTO_PORT" >&2; exit 1
fi
(umask 077 && mkdir -p "$state" && : >"$log")
"$root/.venv/bin/python" "$root/tests/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true; wait $moto 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 $moto 2>/dev/null || { echo "moto_server died:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
"$@"

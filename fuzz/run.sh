#!/usr/bin/env bash
# `make fuzz`: builds the targets, seeds each corpus from events/, runs each
# target in turn for FUZZ_SECONDS (or FUZZ_RUNS executions), and prints a
# table of executions, speed, crashes and corpus size. See FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_RUNS=${FUZZ_RUNS:-}
# One target per platform of the registry, then the shared code's.
# BEGIN GENERATED: platform targets — edit the registry and run inlet gen
PLATFORM_TARGETS="lark alertmanager grafana alert_api discord telegram openim slack github stripe standard_webhooks wecom dingtalk hooks"
# END GENERATED
FUZZ_TARGETS=${FUZZ_TARGETS:-$PLATFORM_TARGETS envelope_decode alert_split destinations replies}
# Stable toolchain: cargo-fuzz's nightly-only flags are allowed by RUSTC_BOOTSTRAP.
# No sanitizer: the code is safe Rust, and instrumentation alone keeps it fast;
# debug assertions make integer overflow a crash.
FLAGS=(--sanitizer none --debug-assertions)
export RUSTC_BOOTSTRAP=1

cargo fuzz build "${FLAGS[@]}"

limit=(-max_total_time="$FUZZ_SECONDS")
if [[ -n "$FUZZ_RUNS" ]]; then limit=(-runs="$FUZZ_RUNS"); fi

summary=()
failed=0
for target in $FUZZ_TARGETS; do
  corpus=fuzz/corpus/$target
  artifacts=fuzz/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  if ! seeded=$(INLET_FUZZ_SEEDS=$corpus cargo fuzz run "${FLAGS[@]}" "$target" 2>&1); then
    echo "$seeded" >&2
    exit 1
  fi
  grep -o "$target: wrote .*" <<<"$seeded" || true
  log=fuzz/artifacts/$target.log
  crashes_before=$(find "$artifacts" -type f -name 'crash-*' | wc -l)
  started=$(date +%s)
  status=0
  cargo fuzz run "${FLAGS[@]}" "$target" -- "${limit[@]}" -max_len=6000 -timeout=10 \
    -dict=fuzz/json.dict -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(Done |#[0-9]+ +DONE|==[0-9]+== ERROR|SUMMARY|thread .* panicked)|PROMISE BROKEN' "$log" || true
  seconds=$(( $(date +%s) - started ))
  runs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1 || true)
  speed=$(grep -oP 'stat::average_exec_per_sec:\s*\K[0-9]+' "$log" | tail -1 || true)
  crashes=$(( $(find "$artifacts" -type f -name 'crash-*' | wc -l) - crashes_before ))
  size=$(find "$corpus" -type f | wc -l)
  if [[ $status -ne 0 ]]; then failed=1; fi
  summary+=("| $target | ${runs:-?} | ${speed:-?} | ${seconds} | $crashes | $size |")
done

echo
echo "| target | executions | exec/s | seconds | crashes | corpus files |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
  echo "make fuzz: a target found a crash or a broken promise: see fuzz/artifacts/<target>.log" >&2
  exit 1
fi

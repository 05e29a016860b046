#!/usr/bin/env bash
# Stability check of the default run (docs/gate.md): run `pytest` N times and tabulate, per
# run, the exit status, pytest's time and every claim's verdict and baseline status.
#   tools/stability.sh N LABEL [warm]
# Each run gets its own reports folder. With `warm`, runs 2..N start from run 1's cache minus
# the hardware-noisy measurements (LeNet timing and memory), so they re-measure everything
# that can vary between runs and reuse the deterministic training (bit-reproducible per
# machine class); SEED_CACHE=DIR starts every run from that cache instead (e.g. the cache of
# a fresh run made by .ci/run). Set LOAD=1 to keep a CPU-bound process busy meanwhile.
# Output: stability-LABEL.tsv (one line per run and claim) in the current folder.
set -uo pipefail
n=${1:?N}; label=${2:?LABEL}; warm=${3:-}
root=$(mktemp -d "${TMPDIR:-/tmp}/nasrepro-stability-XXXX")
out="$PWD/stability-$label.tsv"
: > "$out"
cd "$(dirname "$0")/.."  # the repository root: pytest's testpaths
loadpid=""
if [ "${LOAD:-0}" = 1 ]; then
  python3 -c 'while True: pass' & loadpid=$!
  echo "CPU-bound load process: $loadpid (python busy loop)"
fi
for i in $(seq 1 "$n"); do
  rep="$root/run$i"
  seed="${SEED_CACHE:-$root/run1/cache}"
  if [ -n "$warm" ] && { [ "$i" -gt 1 ] || [ -n "${SEED_CACHE:-}" ]; }; then
    mkdir -p "$rep"; cp -r "$seed" "$rep/cache"
    rm -rf "$rep/cache/lenet_timing" "$rep/cache/lenet_memory"
  fi
  start=$(date +%s)
  NASREPRO_REPORTS="$rep" python -m pytest -q -p no:cacheprovider > "$rep.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  python3 - "$rep" "$i" "$rc" "$secs" "$label" >> "$out" <<'PY'
import json, pathlib, sys
rep, i, rc, secs, label = sys.argv[1:]
for f in sorted((pathlib.Path(rep) / "results" / "smoke").glob("*.json")):
    r = json.loads(f.read_text())
    print("\t".join([label, i, rc, secs, r["claim"], r["verdict"], r["baseline"]["status"],
                     r["env"].get("machine_class", "?")]))
PY
  echo "run $i: exit $rc in ${secs}s ($(tail -1 "$rep.log"))"
done
[ -n "$loadpid" ] && kill "$loadpid"
echo "table: $out; logs: $root/run*.log"

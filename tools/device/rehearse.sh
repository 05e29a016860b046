#!/usr/bin/env bash
# The last check before a GPU lease, on this CPU machine (docs/gpu.md, "Prepare here"): run
# what the device runs the way the device runs it.
#   - the device image's software: Python 3.12, torch 2.11.0 (+cu130), numpy 2.5, and no
#     nas-bench-201 or ray (device KINDS.md), in a venv of its own (VENV, made once: torch
#     2.11.0 comes from PyPI as a CUDA build, about 3 GB; a minute here);
#   - nasrepro NOT installed: a copy of the working tree (tracked and untracked, not
#     ignored: what the device tool carries) on PYTHONPATH;
#   1. calls A, B, C of docs/gpu.md: the CIFAR-10 parts carried one call at a time (exit 3
#      until the last), then tools/device/full_tier.sh with DEVICE=cpu and a micro benchmark;
#      it must exit 0 with its files in $OUT;
#   2. on the CIFAR-10 that step joined: the GPU-path unit tests with the compiled step
#      (-m ''), the full-tier rehearsal and the collection check (test_gpu_paths.py,
#      test_full_tier_rehearsal.py); none may skip.
#   3. two leases of the full tier itself at rehearsal scale (opsub.rehearsal_tier: the full
#      recipe at the smoke tier's sizes, swapped in by tools/device/rehearsal/): lease 1 with
#      a 45-s budget stops part-way after the speed stage; its committed.tgz is extracted and its
#      stage parts carried (call S) into lease 2 on a fresh reports folder, which finishes
#      with five judged records; then the claims judged on the CPU from the committed JSON
#      alone must equal them (`nasrepro stages compare`).
# Needs .device/cifar10/p* (tools/device/split_cifar.sh). Exit 0 when every step passed.
#   tools/device/rehearse.sh            PYTHON (python3.12), VENV, KEEP=1 keeps the temp folder
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
PYTHON=${PYTHON:-python3.12}
# a pyenv shim of a version that is installed but not selected fails: take pyenv's own 3.12
if ! "$PYTHON" -c '' 2>/dev/null && command -v pyenv >/dev/null; then
  for p in "$(pyenv root)"/versions/3.12*/bin/python3.12; do [ -x "$p" ] && PYTHON=$p; done
fi
VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/nasrepro/device-image-venv}
say() { echo "[rehearse $(date -u +%H:%M:%S)] $*"; }
fail() { say "FAILED: $*"; exit 1; }

compgen -G ".device/cifar10/p*/SHA256SUMS" >/dev/null \
  || fail "no CIFAR-10 parts: run tools/device/split_cifar.sh first"
if [ ! -x "$VENV/bin/python3" ]; then
  say "making the device-image venv $VENV ($PYTHON, torch 2.11.0, numpy 2.5)"
  "$PYTHON" -m venv "$VENV" || fail "$PYTHON -m venv (set PYTHON to a Python 3.12)"
  # not this project's constraints file: it pins the CPU torch 2.13.0 of CI
  PIP_CONSTRAINT='' "$VENV/bin/pip" install -q torch==2.11.0 "numpy==2.5.*" scipy pytest \
    pytest-benchmark hypothesis psutil tabulate matplotlib rich tqdm \
    || { rm -rf "$VENV"; fail "installing the device-image packages"; }
fi
"$VENV/bin/python3" -c 'import sys, torch, numpy; print("python", sys.version.split()[0],
"torch", torch.__version__, "numpy", numpy.__version__)'

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nasrepro-rehearse-XXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
tree=$tmp/tree
mkdir -p "$tree"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$tree" -xf - \
  || fail "copying the working tree"
export PATH="$VENV/bin:$PATH" PYTHONPATH="$tree" NASREPRO_DEVICE_DIR="$tmp/device"
export NASREPRO_REPORTS="$tmp/device/reports"
unset NASREPRO_ROOT

say "1/3 calls A, B, C of docs/gpu.md (DEVICE=cpu)"
parts=(.device/cifar10/p*)
n=${#parts[@]}
for i in $(seq 1 "$n"); do
  rm -rf "$tree/.device" && mkdir -p "$tree/.device/cifar10"
  cp -r ".device/cifar10/p$i" "$tree/.device/cifar10/"
  if [ "$i" -lt "$n" ]; then
    (cd "$tree" && tools/device/join_cifar.sh); rc=$?
    [ "$rc" = 3 ] || fail "call $i: join_cifar.sh exit $rc, expected 3 (parts missing)"
  else
    (cd "$tree" && OUT="$tmp/out" DEVICE=cpu CONCURRENCY=1,2 LIMIT_S=300 \
      BENCH_ARGS="--depth 10 --per-class 20" tools/device/full_tier.sh); rc=$?
    [ "$rc" = 0 ] || fail "call $i: full_tier.sh exit $rc (log: $tmp/out/full_tier.log)"
  fi
done
for f in full_tier.log epoch_bench.json results.tgz; do
  [ -s "$tmp/out/$f" ] || fail "\$OUT has no $f"
done
python3 -c 'import json, sys; b = json.load(open(sys.argv[1]))
assert [r["concurrency"] for r in b["rounds"]] == [1, 2] and "errors" not in b, b.get("errors")
assert b["conventional"]["speedup"] > 0' "$tmp/out/epoch_bench.json" \
  || fail "epoch_bench.json does not hold both rounds and the DataLoader epoch"
grep -q "epoch benchmark exit 0" "$tmp/out/full_tier.log" || fail "the benchmark failed"
ls -l "$tmp/out"

say "2/3 GPU-path tests, compiled step included, and the full-tier rehearsal, on the joined data"
(cd "$tree" && NASREPRO_DATA="$NASREPRO_DEVICE_DIR/data" NASREPRO_REPORTS="$tmp/reports" \
  python3 -m pytest -q -p no:cacheprovider -rs -m '' suite/unit/test_gpu_paths.py \
  suite/unit/test_full_tier_rehearsal.py) | tee "$tmp/tests.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "the unit tests above"
! grep -q "skipped" "$tmp/tests.log" || fail "a test skipped above: it must run here"
say "3/3 two leases of the full tier at rehearsal scale (opsub.rehearsal_tier, on the CPU)"
# tools/device/rehearsal/sitecustomize.py swaps the full tier for rehearsal_tier() in every
# Python process started from here; the joined CIFAR-10 stays (a warm machine)
export NASREPRO_REHEARSAL=full PYTHONPATH="$tree/tools/device/rehearsal:$tree"
lease() {  # lease N [ENV=VALUE ...]: full_tier.sh on a fresh reports folder, no benchmark
  local n=$1; shift
  (cd "$tree" && env OUT="$tmp/lease$n" NASREPRO_REPORTS="$tmp/lease$n-reports" DEVICE=cpu \
    BENCH=0 JOBS=2 LIMIT_S=400 "$@" tools/device/full_tier.sh > "$tmp/lease$n.log" 2>&1)
  local rc=$?
  [ "$rc" = 0 ] || { tail -30 "$tmp/lease$n.log"; fail "lease $n: full_tier.sh exit $rc"; }
  grep -E "stages: |budget: |left: |nasrepro run exit|OPSUB-[1-5] " "$tmp/lease$n.log"
}
# lease 1: a 45-s budget: the speed stage (~13 s here idle, no checkpoint: under a shorter
# budget it stops between its timings and keeps nothing) finishes and the run stops part-way
# after it (idle, 2 cores: 12 of 37 stages, host included, whose bf16 copy is committed, so
# lease 2 starts after the host as the real plan's second lease does)
lease 1 BUDGET=45s
grep -q "incomplete (no verdict)" "$tmp/lease1.log" || fail "lease 1 did not stop part-way"
grep -Eq "stages: [1-9][0-9]* of" "$tmp/lease1.log" \
  || fail "lease 1 finished no stage (the speed stage did not fit its budget: a loaded machine?)"
compgen -G "$tmp/lease1/stages.tar.part*" >/dev/null || fail "lease 1 returned no stage store"
# what the lead does after it (docs/gpu.md): commit committed.tgz, carry the parts (call S)
tar -xzf "$tmp/lease1/committed.tgz" -C "$tree"
mkdir -p "$tree/.device/stages" && cp "$tmp/lease1"/stages.tar.part* "$tree/.device/stages/"
# lease 2: another machine (fresh reports folder), the carried store restored, no budget
lease 2
grep -q "restoring the carried stage store" "$tmp/lease2.log" || fail "lease 2 did not restore"
mkdir -p "$tmp/lease2-records" && tar -xzf "$tmp/lease2/results.tgz" -C "$tmp/lease2-records"
python3 - "$tmp/lease2-records" <<'PY' || fail "lease 2's OPSUB records are not all judged"
import json, pathlib, sys
recs = {p.stem: json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).rglob("OPSUB-*.json")}
judged = {"REPRODUCED", "PARTIAL", "NOT REPRODUCED"}
assert sorted(recs) == [f"OPSUB-{i}" for i in range(1, 6)], sorted(recs)
assert all(r["tier"] == "full" and r["verdict"] in judged for r in recs.values()), {
    k: r["verdict"] for k, r in recs.items()}
PY
# then a machine without a GPU judges the claims from the committed JSON alone
tar -xzf "$tmp/lease2/committed.tgz" -C "$tree"
(cd "$tree" && NASREPRO_DATA="$NASREPRO_DEVICE_DIR/data" NASREPRO_REPORTS="$tmp/cpu-reports" \
  python3 -m nasrepro.cli run --tier full --claim OPSUB --device cpu > "$tmp/cpu.log" 2>&1) \
  || { tail -30 "$tmp/cpu.log"; fail "judging from the committed JSON"; }
python3 -m nasrepro.cli stages compare "$(dirname "$(find "$tmp/lease2-records" -name \
  OPSUB-1.json)")" "$tmp/cpu-reports/results/full" || fail "records from JSON differ"
say "passed: the device image's software runs the prepared calls (on the CPU)"

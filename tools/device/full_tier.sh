#!/usr/bin/env bash
# The one prepared device command (docs/gpu.md says when and how to call it), run by the
# device tool in the repository root with $OUT set:
#   1. hardware and software of the machine (nvidia-smi, torch) into the log;
#   2. CIFAR-10: tools/device/join_cifar.sh (the parts carried so far; stops if incomplete);
#   3. a stage store carried back from an earlier session (.device/stages/stages.tar.part*)
#      is restored, so the run resumes where that one stopped;
#   4. the WRN-40-2 epoch benchmark (nasrepro.measure.epoch_bench: 1, 2, 4, 8 concurrent
#      fine-tunes, then a per-sample DataLoader epoch) -> $OUT/epoch_bench.json;
#   5. `nasrepro run --tier full --claim OPSUB --budget ... --jobs 4` in the time left;
#   6. where the checkout has `nasrepro stages`: the finished stages as committable JSON
#      and, once the host is trained, the bf16 host (`stages commit [--host]`) ->
#      $OUT/committed.tgz; then records, REPORT.md and the stage store packed into $OUT
#      (tools/device/pack_out.py).
# Exit: 0 when the run finished (claims judged, or skipped as incomplete under the budget);
# 3 CIFAR-10 parts still missing; 4 the run was killed by the time limit; else the run's own
# exit code (a collection or usage error is 2). $OUT is packed in every case but 3.
# Everything is also logged to $OUT/full_tier.log. The whole script keeps within LIMIT_S
# (default 585 s: the tool's 600 s per command, minus the packing margin).
# Knobs (environment): LIMIT_S, BENCH (1; 0 skips step 4), BENCH_S (at most 150 s),
# CONCURRENCY (1,2,4,8), BUDGET (default: what is left, in seconds, e.g. 400s), JOBS (4);
# for a dry run on a CPU machine: DEVICE=cpu, BENCH_ARGS (e.g. "--depth 10 --per-class 20").
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
start=$(date +%s)
: "${OUT:?run this through the device tool: \$OUT is the folder that comes back}"
LIMIT_S=${LIMIT_S:-585}
BENCH=${BENCH:-1}
BENCH_S=${BENCH_S:-150}
CONCURRENCY=${CONCURRENCY:-1,2,4,8}
JOBS=${JOBS:-4}
DEVICE=${DEVICE:-cuda}
BENCH_ARGS=${BENCH_ARGS:-}
PACK_S=25            # packing $OUT (tar of at most 64 MiB) and the run's own wind-down
mkdir -p "$OUT"
exec > >(tee -a "$OUT/full_tier.log") 2>&1
left() { echo $(( LIMIT_S - ($(date +%s) - start) )); }
say() { echo "[full_tier $(date -u +%H:%M:%S) +$(( $(date +%s) - start ))s] $*"; }

say "1/6 hardware"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
nvidia-smi -L || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)'
echo "cpus $(nproc)"; free -g | head -2; git log -1 --format='commit %H %s' 2>/dev/null || true

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # kept: the rehearsal adds its folder
if compgen -G ".whl/*.whl" >/dev/null; then
  say "installing carried wheels"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi

say "2/6 CIFAR-10"
# shellcheck source=tools/device/join_cifar.sh
. tools/device/join_cifar.sh || { say "CIFAR-10 not complete: nothing run"; exit 3; }

export NASREPRO_REPORTS=${NASREPRO_REPORTS:-/tmp/nasrepro-device/reports}
mkdir -p "$NASREPRO_REPORTS/cache"
if compgen -G ".device/stages/stages.tar.part*" >/dev/null; then
  say "3/6 restoring the carried stage store"
  cat .device/stages/stages.tar.part* | tar -x -C "$NASREPRO_REPORTS/cache" \
    && find "$NASREPRO_REPORTS/cache" -name '*.pt' | wc -l
else
  say "3/6 no carried stage store: starting from scratch"
fi

if [ "$BENCH" = 1 ]; then
  say "4/6 epoch benchmark (at most ${BENCH_S}s)"
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of options
  timeout -k 10 "$BENCH_S" python3 -m nasrepro.measure.epoch_bench --device "$DEVICE" \
    --concurrency "$CONCURRENCY" --out "$OUT/epoch_bench.json" $BENCH_ARGS
  say "epoch benchmark exit $?"
fi

run_rc=0
secs=$(( $(left) - PACK_S ))
if [ "$secs" -lt 60 ]; then
  say "5/6 only ${secs}s left: no full-tier run"
else
  budget=${BUDGET:-$(( secs - 30 ))s}
  opts=(--budget "$budget" --jobs "$JOBS")
  if ! python3 -m nasrepro.cli run --help | grep -q -- --budget; then
    # a checkout without the budgeted runner: run unbudgeted; `timeout` stops it, and the
    # stage store keeps every finished epoch (progress files), so the next lease resumes
    say "this nasrepro run has no --budget/--jobs: running unbudgeted, one job"
    opts=()
  fi
  say "5/6 nasrepro run --tier full --claim OPSUB ${opts[*]} (killed at ${secs}s)"
  timeout -k 10 "$secs" python3 -m nasrepro.cli run --tier full --claim OPSUB \
    --device "$DEVICE" "${opts[@]}"
  run_rc=$?
  say "nasrepro run exit $run_rc"
  case $run_rc in  # 124/137 would read as the device tool's own time limit
    124|137) say "the run was stopped by this script's timeout (${secs}s)"; run_rc=4 ;;
  esac
fi

say "6/6 packing $OUT"
if python3 -m nasrepro.cli stages --help >/dev/null 2>&1; then
  python3 -m nasrepro.cli stages commit --tier full --device "$DEVICE"
  if [ ! -f reference_results/opsub_stages/full/host_bf16.pt ]; then
    python3 -m nasrepro.cli stages commit --tier full --device "$DEVICE" --host \
      || say "no bf16 host committed (the line above says why)"
  fi
  if [ -d reference_results/opsub_stages/full ]; then
    tar -czf "$OUT/committed.tgz" reference_results/opsub_stages/full
  fi
fi
python3 tools/device/pack_out.py "$NASREPRO_REPORTS" "$OUT"
nvidia-smi --query-gpu=name,temperature.gpu,clocks.sm,memory.used --format=csv || true
ls -l "$OUT"
say "done (exit $run_rc: the run's)"
exec 1>&- 2>&-
sleep 1  # let tee finish writing the log before the tool collects $OUT
exit "$run_rc"  # packed whatever happened; a failed run still fails the call

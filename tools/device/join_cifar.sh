#!/usr/bin/env bash
# On the device machine, in the repository root: collect the CIFAR-10 parts carried so far
# (tools/device/split_cifar.sh made them; one call carries .device/cifar10/pK), and once all
# are there, join, decompress and verify them (sha256 of every part, of the archive, then
# of every array through `nasrepro data verify`). Parts wait in $NASREPRO_DEVICE_DIR
# (default /tmp/nasrepro-device) between calls on a warm machine; the arrays land in
# $NASREPRO_DEVICE_DIR/data/cifar10.
#   tools/device/join_cifar.sh       exit 0: data ready (last line NASREPRO_DATA=...);
#                                    3: parts still missing (says which); 1: corrupt/failed
#   . tools/device/join_cifar.sh     the same, and exports NASREPRO_DATA when ready
_nasrepro_join_cifar() (
  set -euo pipefail
  cd "$(dirname "${BASH_SOURCE[0]}")/../.."
  src=${NASREPRO_DEVICE_PARTS:-.device/cifar10}
  work=${NASREPRO_DEVICE_DIR:-/tmp/nasrepro-device}
  stash=$work/parts
  data=$work/data
  if [ -f "$data/.verified" ]; then
    echo "join_cifar: CIFAR-10 already joined and verified"
    echo "NASREPRO_DATA=$data"
    exit 0
  fi
  mkdir -p "$stash"
  for d in "$src"/p*/; do
    [ -f "$d/SHA256SUMS" ] || continue
    cp "$d/SHA256SUMS" "$d/PARTS" "$stash/"
    for f in "$d"/cifar10.tar.xz.part*; do
      [ -f "$f" ] && cp "$f" "$stash/"
    done
  done
  if [ ! -f "$stash/PARTS" ]; then
    echo "join_cifar: no part under $src/p*/ yet (carry .device/cifar10/p1, docs/gpu.md)"
    exit 3
  fi
  n=$(cat "$stash/PARTS")
  have="" missing=""
  for i in $(seq 1 "$n"); do
    if [ -f "$stash/cifar10.tar.xz.part$i" ]; then have="$have $i"; else missing="$missing $i"; fi
  done
  # every part that is here must match its checksum (a bad one is deleted: carry it again)
  for i in $have; do
    name=cifar10.tar.xz.part$i
    if ! (cd "$stash" && grep " $name\$" SHA256SUMS | sha256sum -c --quiet -); then
      rm -f "$stash/$name"
      echo "join_cifar: part $i is corrupt (sha256 mismatch); deleted, carry it again" >&2
      exit 1
    fi
  done
  if [ -n "$missing" ]; then
    echo "join_cifar: have part(s)$have of $n; still missing:$missing (carry .device/cifar10/pK)"
    exit 3
  fi
  parts=()
  for i in $(seq 1 "$n"); do parts+=("$stash/cifar10.tar.xz.part$i"); done
  want=$(grep ' cifar10.tar.xz$' "$stash/SHA256SUMS" | cut -d' ' -f1)
  got=$(cat "${parts[@]}" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "join_cifar: joined archive sha256 $got != $want" >&2; exit 1; }
  rm -rf "$data.tmp"
  mkdir -p "$data.tmp"
  cat "${parts[@]}" \
    | python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer, 1 << 20)' \
    | tar -x -C "$data.tmp"
  PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python3 -m nasrepro.cli data verify cifar \
    --root "$data.tmp" || { echo "join_cifar: extracted arrays do not verify" >&2; exit 1; }
  rm -rf "$data"
  mv "$data.tmp" "$data"
  touch "$data/.verified"
  echo "join_cifar: CIFAR-10 joined and verified ($n parts)"
  echo "NASREPRO_DATA=$data"
)

if [ "${BASH_SOURCE[0]}" != "$0" ]; then  # sourced
  if _nasrepro_join_cifar; then
    NASREPRO_DATA=${NASREPRO_DEVICE_DIR:-/tmp/nasrepro-device}/data
    export NASREPRO_DATA
  else
    return $?
  fi
else
  _nasrepro_join_cifar
fi

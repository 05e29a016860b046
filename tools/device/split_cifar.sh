#!/usr/bin/env bash
# Split the CIFAR-10 arrays into parts that the device tool can carry, one part per call
# (docs/gpu.md). Here, in the repository root:
#   tools/device/split_cifar.sh [DATA_ROOT] [DEST]
# DATA_ROOT (default $NASREPRO_DATA) holds cifar10/{train,test}_{images,labels}.npy; they are
# verified first (sha256 of data/SOURCES.md, through `nasrepro data verify`), put in one tar,
# compressed with xz (184.4 MB -> about 140 MB: every call saved is device time) and split
# into N equal parts of at most PART_MB (default 55) MB: DEST/p1 .. DEST/pN (DEST default
# .device/cifar10, ignored by git), each folder holding one part and the same SHA256SUMS
# (every part and the whole archive). tools/device/join_cifar.sh reverses it on the device.
# Compressing takes minutes on two cores (xz -6); nothing is written until it succeeded.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:-${NASREPRO_DATA:?give the data root or set NASREPRO_DATA}}
dest=${2:-.device/cifar10}
part_mb=${PART_MB:-55}
files="cifar10/train_images.npy cifar10/train_labels.npy cifar10/test_images.npy cifar10/test_labels.npy"

PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python3 -m nasrepro.cli data verify cifar \
  --root "$root" >/dev/null || { echo "split_cifar: $root/cifar10 does not verify" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/split-cifar-XXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086  # $files is a list of fixed names
tar -C "$root" --owner=0 --group=0 --numeric-owner -cf - $files | xz -6 -T0 > "$tmp/cifar10.tar.xz"
size=$(stat -c %s "$tmp/cifar10.tar.xz")
limit=$(( part_mb * 1000 * 1000 ))
n=$(( (size + limit - 1) / limit ))
chunk=$(( (size + n - 1) / n ))
(cd "$tmp" && split -b "$chunk" -a 1 --numeric-suffixes=1 cifar10.tar.xz cifar10.tar.xz.part)
(cd "$tmp" && sha256sum cifar10.tar.xz cifar10.tar.xz.part* > SHA256SUMS && echo "$n" > PARTS)
rm -rf "$dest"
for i in $(seq 1 "$n"); do
  mkdir -p "$dest/p$i"
  mv "$tmp/cifar10.tar.xz.part$i" "$dest/p$i/"
  cp "$tmp/SHA256SUMS" "$tmp/PARTS" "$dest/p$i/"
done
echo "split_cifar: $size bytes of xz in $n parts of <= $chunk bytes:"
du -b "$dest"/p*/cifar10.tar.xz.part*
echo "carry them one per device call: ${dest}/p1 .. ${dest}/p$n (docs/gpu.md)"

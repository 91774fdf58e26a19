#!/usr/bin/env bash
# `npm run train`: regenerates the synthetic training set, trains the MSU detector with Debian's PyTorch and
# exports models/msu-ldh/<version>/{model.onnx,manifest.json}. Reproducible: fixed seeds throughout.
#   TRAIN_STUDIES (default 240), TRAIN_EPOCHS (24), MODEL_VERSION (1.0.0), TRAIN_SEED (20241126)
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(python3-torch python3-torchvision python3-onnx python3-numpy)
if ! /usr/bin/python3 -c 'import torch, torchvision, onnx, numpy' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    echo "Training needs Debian's PyTorch. Run as root:  apt-get update && apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
fi

studies=${TRAIN_STUDIES:-240}
epochs=${TRAIN_EPOCHS:-24}
version=${MODEL_VERSION:-1.0.0}
seed=${TRAIN_SEED:-20241126}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
out=models/msu-ldh/$version

echo "generating $studies synthetic training studies (seed $seed)"
npm run --silent synth -- --dataset --out "$data/dataset" --studies "$studies" --seed "$seed"
npx tsx models/training/prepare-dataset.ts "$data/dataset" "$data/slices"
rm -rf "$data/dataset"
/usr/bin/python3 models/training/train.py --data "$data/slices" --out "$out" --epochs "$epochs" --seed "$seed" --version "$version"
npx tsx models/training/write-manifest.ts "$out" "$version"

#!/usr/bin/env bash
# `npm run train`: regenerates the synthetic training set, trains the MSU detector with Debian's PyTorch and
# exports models/msu-ldh/<version>/{model.onnx,manifest.json}. Reproducible: fixed seeds throughout.
#   TRAIN_EPOCHS (default 12), MODEL_VERSION (1.8.0), TRAIN_SEED (20241126), TRAIN_THREADS (CPU threads, 2),
#   TRAIN_SIZE (the whole-slice detector's input, 384; the zoomed networks stay at 256² crops)
#   REFINE_EPOCHS (30; 0 skips the box refiner), REFINE_ZOOM (6), REFINE_SEED (20241127),
#   REFINE_EXTRA_STUDIES (400 more studies that only the box refiner sees), REFINE_EDGE_WEIGHTS (1,1,1,2: the L1
#   box-loss weight of x0,y0,x1,y1; the deep edge y1 is the hardest to place),
#   CLASSIFY_EPOCHS (60; 0 skips the zoomed classifier), CLASSIFY_ZOOM (4), CLASSIFY_SEED (20241127),
#   VERIFY_EPOCHS (30; 0 skips the verifier), VERIFY_ZOOM (4), VERIFY_SEED (20241128), VERIFY_NEGATIVES (1550 crops
#   without a herniation), VERIFY_JITTER (0.4: the crop centre's error, share of the box; the refiner's is 0.25),
#   CLASS_FROM (classifier: the manifest's classFrom, where the reported MSU class comes from), KEY_SLICE (largest:
#   the manifest's keySlice rule; strongest leaves it out), REFINE_VIEWS (centred: one refiner crop per box;
#   augmented writes the refiner's five test-time views in the manifest)
# 1.8.0 = this script at its defaults: 1.7.0's networks with the key-slice rule in the manifest (KEY_SLICE=strongest
# MODEL_VERSION=1.7.0 gives 1.7.0; REFINE_VIEWS=augmented MODEL_VERSION=1.9.0 gives 1.9.0, 1.8.0 with five refiner
# views). 1.7.0: 1.6.0 with its box refiner retrained on 800 studies (the 400 below and 400
# more) for 30 epochs, the deep edge's L1 loss weighted 2 (its refine.onnx was trained with TRAIN_THREADS=1 beside
# another job). 1.6.0 had REFINE_EPOCHS=60 REFINE_EXTRA_STUDIES=0 REFINE_EDGE_WEIGHTS=1,1,1,1:
# the 384² detector of 1.5.0, a box refiner at zoom 6 (refine.onnx), 1.3.0's
# refiner at zoom 4 as the zoomed classifier (classify.onnx) and 1.4.0's candidate verifier (verify.onnx), with the
# manifest's corroboration (write-manifest.ts). 1.5.0 had the zoom-4 refiner as refine.onnx and no classify.onnx
# (REFINE_ZOOM=4 CLASSIFY_EPOCHS=0). 1.4.1 is the 1.2.0 detector (TRAIN_SIZE=256) with 1.5.0's refiner, verifier and
# corroboration; 1.4.0 is 1.4.1 without corroboration; 1.3.0 had no verifier (VERIFY_EPOCHS=0).
# Version 1.2.0 had no refiner; 1.1.0 was its detector at 7 epochs; 1.0.0 was 12 epochs on the first four batches below (seeds 100000–400049) with train.py of its commit.
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

epochs=${TRAIN_EPOCHS:-12}
size=${TRAIN_SIZE:-384}
version=${MODEL_VERSION:-1.8.0}
refine_epochs=${REFINE_EPOCHS:-30}
refine_zoom=${REFINE_ZOOM:-6}
refine_seed=${REFINE_SEED:-20241127}
refine_extra=${REFINE_EXTRA_STUDIES:-400}
refine_edge_weights=${REFINE_EDGE_WEIGHTS:-1,1,1,2}
classify_epochs=${CLASSIFY_EPOCHS:-60}
classify_zoom=${CLASSIFY_ZOOM:-4}
classify_seed=${CLASSIFY_SEED:-20241127}
verify_epochs=${VERIFY_EPOCHS:-30}
verify_zoom=${VERIFY_ZOOM:-4}
verify_seed=${VERIFY_SEED:-20241128}
verify_negatives=${VERIFY_NEGATIVES:-1550}
verify_jitter=${VERIFY_JITTER:-0.4}
class_from=${CLASS_FROM:-classifier}
key_slice=${KEY_SLICE:-largest}
refine_views=${REFINE_VIEWS:-centred}
threads=${TRAIN_THREADS:-2}
seed=${TRAIN_SEED:-20241126}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
out=models/msu-ldh/$version

# The training distribution: 1.5 T, SNR high and medium, matrices 256–448. 3 T, low SNR and 512² are kept for the
# "external" evaluation set (MODEL_CARD.md), as the seed paper's external test used other scanners.
echo "generating 400 synthetic training studies"
synth() { npm run --silent synth -- --dataset --out "$data/dataset" --studies 50 --field 1.5 "$@" >/dev/null; }
synth --seed 100000 --snr high --matrix 256
synth --seed 200000 --snr high --matrix 384
synth --seed 300000 --snr medium --matrix 320
synth --seed 400000 --snr medium --matrix 448
synth --seed 500000 --snr high --matrix 256
synth --seed 600000 --snr high --matrix 384
synth --seed 700000 --snr medium --matrix 320
synth --seed 800000 --snr medium --matrix 448
npx tsx models/training/prepare-dataset.ts "$data/dataset" "$data/slices"
rm -rf "$data/dataset"
# Passive OpenMP waits: spinning worker threads lose badly when another job shares the 2 cores.
OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 models/training/train.py --data "$data/slices" --out "$out" \
  --epochs "$epochs" --seed "$seed" --version "$version" --threads "$threads" --size "$size"
if [ "$refine_epochs" -gt 0 ]; then
  refine_data=$data/slices
  if [ "$refine_extra" -gt 0 ]; then
    # More studies for the box refiner only, same acquisitions, seeds 1100000 onwards (50 per seed block). The
    # subfolders keep train.py's sorted file order, and so the exported refiner, the same on every run.
    echo "generating $refine_extra more synthetic studies for the box refiner"
    acquisitions=("high 256" "high 384" "medium 320" "medium 448")
    for ((k = 0; k * 50 < refine_extra; k++)); do
      read -r snr matrix <<<"${acquisitions[k % 4]}"
      npm run --silent synth -- --dataset --out "$data/extra" --studies $((refine_extra - k * 50 < 50 ? refine_extra - k * 50 : 50)) \
        --field 1.5 --seed $((1100000 + k * 100000)) --snr "$snr" --matrix "$matrix" >/dev/null
    done
    npx tsx models/training/prepare-dataset.ts "$data/extra" "$data/refine/b"
    rm -rf "$data/extra"
    cp -al "$data/slices" "$data/refine/a"
    refine_data=$data/refine
  fi
  # The box refiner: the same network trained on zoomed crops around each herniation (refine_crops.py).
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 models/training/train.py --data "$refine_data" --out "$out" \
    --epochs "$refine_epochs" --seed "$refine_seed" --version "$version" --threads "$threads" \
    --refine-zoom "$refine_zoom" --edge-weights "$refine_edge_weights" --onnx refine.onnx
fi
if [ "$classify_epochs" -gt 0 ]; then
  # The zoomed classifier: the refiner's recipe at a lower zoom, which keeps the facet joints in the crop.
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 models/training/train.py --data "$data/slices" --out "$out" \
    --epochs "$classify_epochs" --seed "$classify_seed" --version "$version" --threads "$threads" \
    --refine-zoom "$classify_zoom" --onnx classify.onnx
fi
if [ "$verify_epochs" -gt 0 ]; then
  # The candidate verifier: the same network on zoomed crops around herniations and around places without one.
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 models/training/train.py --data "$data/slices" --out "$out" \
    --epochs "$verify_epochs" --seed "$verify_seed" --version "$version" --threads "$threads" \
    --refine-zoom "$verify_zoom" --negatives "$verify_negatives" --centre-jitter "$verify_jitter" --onnx verify.onnx
fi
npx tsx models/training/write-manifest.ts "$out" "$version" "$class_from" "$key_slice" "$refine_views"

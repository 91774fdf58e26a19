#!/usr/bin/env bash
# On the GPU host, from the repository root, with .device carried (built by test/e2e/device/build.sh here):
#   bash .device/run.sh [STUDIES]
# Unpacks node and onnxruntime, installs the Vulkan loader, prints the GPU, then the local bench (images in memory)
# for the CPU provider and for WebGPU on the same host, each with its own 'why' line; copies of the output in $OUT.
set -uo pipefail
studies=${1:-40}
out=${OUT:-/tmp/ldh-device-out}
mkdir -p "$out"
for f in .device/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node
for file in .device/bench.mjs .device/decode-worker.mjs \
  .device/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1; do
  [ -f "$file" ] || xz -dk "$file.xz"
done
# Dawn finds the NVIDIA driver's Vulkan manifest where the container runtime mounts it.
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true; nproc; } 2>&1 | tee "$out/host.txt"
for ep in cpu webgpu; do
  echo "== INFERENCE_EP=$ep"
  /tmp/node .device/bench.mjs --ep "$ep" --studies "$studies" --concurrency 4 --batch 64 2>&1 | tee "$out/bench-$ep.txt"
done

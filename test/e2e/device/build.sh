#!/usr/bin/env bash
# Builds .device/ (git-ignored): what a GPU host needs to run `npm run bench -- --local` with neither Node nor npm
# there (issue 23's GPU figures; docs/deploy.md §GPU workers). Run here, then on the device, from the repository root:
#   bash .device/run.sh            (carry: [".device"]; figures for the CPU and WebGPU providers, in $OUT)
# The bundle: bench.mjs and decode-worker.mjs (esbuild), the native and WASM packages beside them (onnxruntime-node for
# linux x64 only, onnxruntime-common, piscina), this machine's node as node.xz, and the Vulkan loader's .deb (WebGPU
# reaches the GPU through Vulkan), the large files xz-compressed: about 39 MB, with the repository's 25 MB under the
# 64 MiB a device call carries.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=.device
rm -rf "$out"
mkdir -p "$out/node_modules" "$out/gl"
npx tsx test/e2e/device/bundle.ts "$out"
xz -T0 -9 "$out/bench.mjs" "$out/decode-worker.mjs"
copy() { mkdir -p "$out/node_modules/$(dirname "$1")" && cp -r "node_modules/$1" "$out/node_modules/$1"; }
# Not the cornerstone codecs (6 MB): the bench's studies are uncompressed, and the decoder imports a codec only for
# its transfer syntax (dicom/codecs.ts) — --syntax needs them carried too.
for package in onnxruntime-common piscina; do
  copy "$package"
done
# piscina's own dependencies, if it has any installed beside it.
for dependency in $(node -e "console.log(Object.keys(require('./node_modules/piscina/package.json').dependencies ?? {}).join(' '))"); do
  [ -d "node_modules/$dependency" ] && copy "$dependency"
done
# onnxruntime-node without the other platforms' binaries (they are most of its 288 MB).
mkdir -p "$out/node_modules/onnxruntime-node/bin/napi-v6/linux"
cp node_modules/onnxruntime-node/package.json "$out/node_modules/onnxruntime-node/"
cp -r node_modules/onnxruntime-node/dist "$out/node_modules/onnxruntime-node/"
cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 "$out/node_modules/onnxruntime-node/bin/napi-v6/linux/"
xz -T0 -6 "$out/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
xz -T0 -9 -c "$(command -v node)" > "$out/node.xz.tmp" && mv "$out/node.xz.tmp" "$out/node.xz"
# The Vulkan loader, as the device's README has it (no network there).
(cd "$out/gl" && apt-get -q download libvulkan1 >/dev/null)
cp test/e2e/device/run.sh "$out/run.sh"
du -sh "$out"

/**
 * Which onnxruntime-node execution provider runs the detector. `auto` tries CUDA when its provider library is
 * installed (`npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12` on a CUDA host), then WebGPU when
 * a Vulkan loader is present (Dawn needs it on Linux to find a GPU adapter), then CPU. A forced provider that
 * cannot start is an error; `auto` falls through and says why.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const EXECUTION_PROVIDERS = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export type ExecutionProviderSetting = (typeof EXECUTION_PROVIDERS)[number];
export type ExecutionProvider = Exclude<ExecutionProviderSetting, 'auto'>;

const require = createRequire(import.meta.url);

function onnxruntimeBinDir(): string | undefined {
  try {
    const packageJson = require.resolve('onnxruntime-node/package.json');
    return path.join(path.dirname(packageJson), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

export function isCudaProviderInstalled(): boolean {
  const dir = onnxruntimeBinDir();
  return dir !== undefined && existsSync(path.join(dir, 'libonnxruntime_providers_cuda.so'));
}

const VULKAN_LOADERS = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1',
  '/usr/lib/libvulkan.so.1',
  '/usr/local/lib/libvulkan.so.1',
];

export function isWebGpuLikely(): boolean {
  if (process.platform !== 'linux') return process.platform === 'win32' || process.platform === 'darwin';
  const fromEnv = (process.env.LD_LIBRARY_PATH ?? '')
    .split(':')
    .filter(Boolean)
    .map((dir) => path.join(dir, 'libvulkan.so.1'));
  return [...fromEnv, ...VULKAN_LOADERS].some((file) => existsSync(file));
}

/** Providers to try in order for a setting. */
export function providerCandidates(setting: ExecutionProviderSetting): ExecutionProvider[] {
  if (setting !== 'auto') return [setting];
  const candidates: ExecutionProvider[] = [];
  if (isCudaProviderInstalled()) candidates.push('cuda');
  if (isWebGpuLikely()) candidates.push('webgpu');
  candidates.push('cpu');
  return candidates;
}

/**
 * Which onnxruntime-node execution provider runs the detector. `auto` tries CUDA when its provider library is
 * installed (`npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12` on a CUDA host), then WebGPU when
 * a Vulkan loader is present (Dawn needs it on Linux to find a GPU adapter), then CPU. A forced provider that
 * cannot start is an error; `auto` falls through and says why.
 */
import { existsSync, readdirSync } from 'node:fs';
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

/** Where the Vulkan loader looks for installable client drivers (ICDs), per the Vulkan loader's Linux search rules. */
const VULKAN_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

/** What the host offers the providers; read once per session load (a few stat calls). */
export interface GpuHostFacts {
  /** The NVIDIA kernel driver is loaded (a device node or the driver's /proc entry). */
  nvidiaGpu: boolean;
  cudaProviderInstalled: boolean;
  vulkanLoader: boolean;
  /** A Vulkan driver manifest (ICD) the loader can find: VK_DRIVER_FILES / VK_ICD_FILENAMES or the standard folders. */
  vulkanDriver: boolean;
}

export function gpuHostFacts(): GpuHostFacts {
  const fromEnv = (process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? '').split(':').filter(Boolean);
  const icdInDir = (dir: string): boolean => {
    try {
      return readdirSync(dir).some((file) => file.endsWith('.json'));
    } catch {
      return false;
    }
  };
  return {
    nvidiaGpu: existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/version'),
    cudaProviderInstalled: isCudaProviderInstalled(),
    vulkanLoader: isWebGpuLikely(),
    vulkanDriver: fromEnv.some((file) => existsSync(file)) || VULKAN_ICD_DIRS.some(icdInDir),
  };
}

/** The command that installs onnxruntime-node's CUDA 12 provider libraries (its install script, denied in package.json). */
export const ENABLE_CUDA_COMMAND = 'npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12';

/**
 * Why `chosen` runs, in one sentence for the worker's start-up log line: which faster providers were skipped and what
 * would enable each, so that a GPU host silently running on the CPU is visible in the first line an operator reads
 * (docs/deploy.md §GPU workers).
 */
export function explainProviderChoice(
  setting: ExecutionProviderSetting,
  chosen: ExecutionProvider,
  failures: readonly string[],
  facts: GpuHostFacts,
): string {
  if (setting !== 'auto') return `INFERENCE_EP=${setting} asks for it`;
  const skipped: string[] = [];
  if (chosen !== 'cuda') {
    if (!facts.cudaProviderInstalled)
      skipped.push(
        facts.nvidiaGpu
          ? `an NVIDIA GPU is present but onnxruntime's CUDA provider is not installed (enable it: ${ENABLE_CUDA_COMMAND})`
          : 'no CUDA provider installed and no NVIDIA driver found',
      );
  }
  if (chosen === 'cpu') {
    if (!facts.vulkanLoader)
      skipped.push('WebGPU needs the Vulkan loader libvulkan.so.1 (apt-get install libvulkan1) and a Vulkan driver');
    else if (!facts.vulkanDriver)
      skipped.push(
        'the Vulkan loader is present but no Vulkan driver manifest was found (set VK_DRIVER_FILES to the driver’s ICD json)',
      );
  }
  skipped.push(...failures.map((failure) => `failed to start ${failure}`));
  const chosenText =
    chosen === 'cuda'
      ? 'the CUDA provider is installed and started'
      : chosen === 'webgpu'
        ? 'WebGPU found a GPU adapter through Vulkan'
        : 'the CPU provider is always available';
  return skipped.length === 0 ? chosenText : `${chosenText}; ${skipped.join('; ')}`;
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

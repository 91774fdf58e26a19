import { describe, expect, it } from 'vitest';
import {
  ENABLE_CUDA_COMMAND,
  explainProviderChoice,
  providerCandidates,
  type GpuHostFacts,
} from './execution-provider';

const cpuOnlyHost: GpuHostFacts = {
  nvidiaGpu: false,
  cudaProviderInstalled: false,
  vulkanLoader: false,
  vulkanDriver: false,
};
const gpuHostAfterNpmCi: GpuHostFacts = { ...cpuOnlyHost, nvidiaGpu: true };

describe('explainProviderChoice', () => {
  it('when a GPU host falls back to the CPU because npm ci skipped the CUDA provider, then the line gives the command that enables it', () => {
    const why = explainProviderChoice('auto', 'cpu', [], gpuHostAfterNpmCi);
    expect(why).toContain('an NVIDIA GPU is present');
    expect(why).toContain(ENABLE_CUDA_COMMAND);
    expect(why).toContain('libvulkan.so.1');
  });

  it('when the Vulkan loader is there without a driver, then the line says to point VK_DRIVER_FILES at it', () => {
    const why = explainProviderChoice('auto', 'cpu', [], { ...gpuHostAfterNpmCi, vulkanLoader: true });
    expect(why).toContain('VK_DRIVER_FILES');
    expect(why).not.toContain('apt-get install libvulkan1');
  });

  it('when WebGPU failed to start, then its error is part of the reason', () => {
    const why = explainProviderChoice('auto', 'cpu', ['webgpu: no adapter'], {
      ...cpuOnlyHost,
      vulkanLoader: true,
      vulkanDriver: true,
    });
    expect(why).toContain('failed to start webgpu: no adapter');
  });

  it('when CUDA runs, then nothing is said to be skipped', () => {
    expect(explainProviderChoice('auto', 'cuda', [], { ...gpuHostAfterNpmCi, cudaProviderInstalled: true })).toBe(
      'the CUDA provider is installed and started',
    );
  });

  it('when WebGPU runs on a host without the CUDA provider, then the line says so', () => {
    const why = explainProviderChoice('auto', 'webgpu', [], {
      ...gpuHostAfterNpmCi,
      vulkanLoader: true,
      vulkanDriver: true,
    });
    expect(why).toMatch(/^WebGPU found a GPU adapter through Vulkan; an NVIDIA GPU is present/);
  });

  it('when a provider is forced, then the setting is the reason', () => {
    expect(explainProviderChoice('cpu', 'cpu', [], gpuHostAfterNpmCi)).toBe('INFERENCE_EP=cpu asks for it');
  });
});

describe('providerCandidates', () => {
  it('when a provider is forced, then only it is tried', () => {
    expect(providerCandidates('webgpu')).toEqual(['webgpu']);
  });

  it('when auto, then the CPU is always the last resort', () => {
    expect(providerCandidates('auto').at(-1)).toBe('cpu');
  });
});

/**
 * Renders slices of the realistic anatomy: samples the tissue model per pixel through a plane → level-frame map,
 * then applies what an MR scanner adds — partial-volume blur, the receive-coil bias field (the spine array lies
 * under the patient, so the back is brighter), optional motion ghosts along the phase-encoding direction, and
 * Rician noise (the magnitude of a complex signal with Gaussian noise on both channels).
 */
import type { Rng } from '../prng';
import type { LevelAnatomy } from './anatomy';
import type { PlaneToFrame } from './frame';
import {
  herniationCoverage,
  isNearSpine,
  sampleSoftTissue,
  sampleSpine,
  sampleTissue,
  type SampleContext,
} from './tissue';

export interface PlaneSampling {
  size: number;
  pixelMm: number;
}

export interface AxialRender {
  /** Noise-free signal relative to CSF, row-major. */
  signal: Float32Array;
  /** 1 where the pixel centre lies in herniated material posterior to the disc margin. */
  herniationMask: Uint8Array;
  herniationPixels: number;
}

/** Pixel centre (column c, row r) → in-plane mm from the image centre. */
function planeMm(index: number, sampling: PlaneSampling): number {
  return (index + 0.5 - sampling.size / 2) * sampling.pixelMm;
}

/** The z-independent soft tissue of a level on one plane: the same for every slice of a stack, so drawn once. */
export function renderSoftTissue(
  level: LevelAnatomy,
  map: PlaneToFrame,
  sampling: PlaneSampling,
  context: SampleContext,
): Float32Array {
  const { size } = sampling;
  const soft = new Float32Array(size * size);
  for (let r = 0; r < size; r++) {
    const v = planeMm(r, sampling);
    for (let col = 0; col < size; col++) {
      const u = planeMm(col, sampling);
      soft[r * size + col] = sampleSoftTissue(
        level,
        map.x0 + u * map.xu + v * map.xv,
        map.y0 + u * map.yu + v * map.yv,
        context,
      );
    }
  }
  return soft;
}

export function renderAxial(
  level: LevelAnatomy,
  map: PlaneToFrame,
  sampling: PlaneSampling,
  context: SampleContext,
  soft: Float32Array,
): AxialRender {
  const { size } = sampling;
  const signal = new Float32Array(size * size);
  const herniationMask = new Uint8Array(size * size);
  let herniationPixels = 0;
  for (let r = 0; r < size; r++) {
    const v = planeMm(r, sampling);
    for (let col = 0; col < size; col++) {
      const u = planeMm(col, sampling);
      const x = map.x0 + u * map.xu + v * map.xv;
      const y = map.y0 + u * map.yu + v * map.yv;
      const z = map.z0 + u * map.zu + v * map.zv;
      const i = r * size + col;
      const base = soft[i] ?? 0;
      signal[i] = isNearSpine(level, x, y) ? sampleSpine(level, x, y, z, base, context) : base;
      if (level.herniation && y > 0 && herniationCoverage(level, x, y, z, 1e-6) >= 0.5) {
        herniationMask[i] = 1;
        herniationPixels++;
      }
    }
  }
  return { signal, herniationMask, herniationPixels };
}

/**
 * A sagittal slice crosses every level: each pixel takes the level whose disc mid-plane is nearest, blended with the
 * next nearest over the middle of the vertebral body so the soft tissues change smoothly from level to level.
 */
export function renderSagittal(
  levels: readonly { anatomy: LevelAnatomy; map: PlaneToFrame }[],
  sampling: PlaneSampling,
  context: SampleContext,
): Float32Array {
  const { size } = sampling;
  const signal = new Float32Array(size * size);
  for (let r = 0; r < size; r++) {
    const v = planeMm(r, sampling);
    for (let col = 0; col < size; col++) {
      const u = planeMm(col, sampling);
      let best = -1;
      let second = -1;
      let bestZ = Infinity;
      let secondZ = Infinity;
      for (let index = 0; index < levels.length; index++) {
        const map = levels[index]?.map;
        if (!map) continue;
        const z = Math.abs(map.z0 + u * map.zu + v * map.zv);
        if (z < bestZ) {
          second = best;
          secondZ = bestZ;
          best = index;
          bestZ = z;
        } else if (z < secondZ) {
          second = index;
          secondZ = z;
        }
      }
      let value = sampleLevelAt(levels[best], u, v, context);
      // Within 3 mm of the midpoint between two discs, blend the two levels' soft tissue.
      const gap = secondZ - bestZ;
      if (second >= 0 && gap < 6)
        value = value + (sampleLevelAt(levels[second], u, v, context) - value) * (0.5 - gap / 12);
      signal[r * size + col] = value;
    }
  }
  return signal;
}

function sampleLevelAt(
  entry: { anatomy: LevelAnatomy; map: PlaneToFrame } | undefined,
  u: number,
  v: number,
  context: SampleContext,
): number {
  if (!entry) return 0;
  const { map, anatomy } = entry;
  return sampleTissue(
    anatomy,
    map.x0 + u * map.xu + v * map.xv,
    map.y0 + u * map.yu + v * map.yv,
    map.z0 + u * map.zu + v * map.zv,
    context,
  );
}

/** Separable Gaussian blur (partial volume and the point-spread function), in place. */
export function gaussianBlur(image: Float32Array, size: number, sigmaPx: number): void {
  if (sigmaPx <= 0.05) return;
  const radius = Math.ceil(sigmaPx * 2.5);
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) {
    const w = Math.exp(-(k * k) / (2 * sigmaPx * sigmaPx));
    kernel[k + radius] = w;
    sum += w;
  }
  for (let k = 0; k < kernel.length; k++) kernel[k] = (kernel[k] ?? 0) / sum;
  const temp = new Float32Array(image.length);
  blurPass(image, temp, size, kernel, radius, 1, size);
  blurPass(temp, image, size, kernel, radius, size, 1);
}

/**
 * One 1-D pass: along rows (step 1, lines of `lineStride` = size) or columns (step size). Edges repeat the border
 * pixel; the interior runs without bounds checks.
 */
function blurPass(
  from: Float32Array,
  to: Float32Array,
  size: number,
  kernel: Float32Array,
  radius: number,
  step: number,
  lineStride: number,
): void {
  for (let line = 0; line < size; line++) {
    const base = line * lineStride;
    for (let i = 0; i < size; i++) {
      let acc = 0;
      if (i >= radius && i < size - radius) {
        let index = base + (i - radius) * step;
        for (let k = 0; k < kernel.length; k++, index += step) acc += (from[index] ?? 0) * (kernel[k] ?? 0);
      } else {
        for (let k = -radius; k <= radius; k++) {
          const j = i + k < 0 ? 0 : i + k >= size ? size - 1 : i + k;
          acc += (from[base + j * step] ?? 0) * (kernel[k + radius] ?? 0);
        }
      }
      to[base + i * step] = acc;
    }
  }
}

/** 65,536 standard normal deviates (Box–Muller on a fixed stream): fast, deterministic Gaussian noise. */
const NORMAL_MASK = 0xffff;
const NORMAL_TABLE = ((): Float32Array => {
  const table = new Float32Array(NORMAL_MASK + 1);
  for (let k = 0; k < table.length; k += 2) {
    // Stratified uniforms: every part of the distribution is represented.
    const u = (k / 2 + 0.5) / (table.length / 2);
    const angle = 2 * Math.PI * ((k * 0.6180339887498949) % 1);
    const radius = Math.sqrt(-2 * Math.log(u));
    table[k] = radius * Math.cos(angle);
    table[k + 1] = radius * Math.sin(angle);
  }
  return table;
})();

export interface Acquisition {
  /** Multiplies relative signal into stored values (CSF ≈ this value). */
  scale: number;
  /** Noise standard deviation relative to CSF. */
  noiseSigma: number;
  /** Bias field: 1 − gain + gain·exp(−distance from the posterior edge / length). */
  biasGain: number;
  biasLengthMm: number;
  /** Linear left–right tilt of the bias field per FOV. */
  biasTilt: number;
  blurSigmaPx: number;
  /** Motion ghosts: amplitude relative to the image (0 = none) and shift in pixels along the columns. */
  ghostAmplitude: number;
  ghostShift: number;
  maxValue: number;
}

/**
 * Bias, ghosts and noise. `phaseAxis` 'rows' shifts ghosts along the column direction (anterior–posterior on an
 * axial slice), 'columns' along the row direction. Returns stored values.
 */
export function acquire(
  signal: Float32Array,
  size: number,
  acquisition: Acquisition,
  rng: Rng,
  phaseAxis: 'rows' | 'columns',
): Uint16Array {
  gaussianBlur(signal, size, acquisition.blurSigmaPx);
  const { biasGain, biasLengthMm, biasTilt, scale, ghostAmplitude, ghostShift } = acquisition;
  // The bias field is separable: a fall-off away from the coil times a linear tilt across.
  const fallOff = new Float32Array(size);
  const tilt = new Float32Array(size);
  for (let k = 0; k < size; k++) {
    const fromCoil = phaseAxis === 'rows' ? (size - 1 - k) / size : k / size;
    fallOff[k] = 1 - biasGain + biasGain * Math.exp((-fromCoil * 220) / biasLengthMm);
    tilt[k] = 1 + biasTilt * (k / size - 0.5);
  }
  const biased = new Float32Array(signal.length);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const bias = phaseAxis === 'rows' ? (fallOff[r] ?? 1) * (tilt[c] ?? 1) : (fallOff[c] ?? 1) * (tilt[r] ?? 1);
      biased[r * size + c] = (signal[r * size + c] ?? 0) * bias;
    }
  }
  let image = biased;
  if (ghostAmplitude > 0) {
    image = Float32Array.from(biased);
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const i = r * size + c;
        let ghost = 0;
        for (const shift of [ghostShift, -ghostShift]) {
          const rr = phaseAxis === 'rows' ? (r + shift + size) % size : r;
          const cc = phaseAxis === 'columns' ? (c + shift + size) % size : c;
          ghost += biased[rr * size + cc] ?? 0;
        }
        image[i] = (image[i] ?? 0) + (ghostAmplitude * ghost) / 2;
      }
    }
  }
  const out = new Uint16Array(image.length);
  const sigma = acquisition.noiseSigma;
  const { maxValue } = acquisition;
  // xorshift32 in a local (no allocation per draw), seeded from the study's noise stream; normals by table.
  let state = (Math.floor(rng.next() * 0xffffffff) | 1) >>> 0;
  for (let i = 0; i < image.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const real = (image[i] ?? 0) + sigma * (NORMAL_TABLE[state & NORMAL_MASK] ?? 0);
    const imaginary = sigma * (NORMAL_TABLE[(state >>> 16) & NORMAL_MASK] ?? 0);
    const value = Math.round(Math.sqrt(real * real + imaginary * imaginary) * scale);
    out[i] = value > maxValue ? maxValue : value;
  }
  return out;
}

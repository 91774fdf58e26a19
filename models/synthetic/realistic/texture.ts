/**
 * Smooth value noise in millimetres: the mottling of marrow, the striation and fatty streaks of muscle, bowel
 * contents. Seeded, so textures are deterministic; cheap (bilinear on a small periodic grid).
 */
import type { Rng } from '../prng';

export interface Noise2 {
  /** Roughly uniform in [0, 1), varying over `cellMm`. */
  at(x: number, y: number): number;
}

export function valueNoise(rng: Rng, cellMm: number, size = 64): Noise2 {
  const grid = new Float32Array(size * size);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.next();
  const mask = size - 1; // size is a power of two
  return {
    at(x, y) {
      const gx = x / cellMm + 1e4;
      const gy = y / cellMm + 1e4;
      const ix = Math.floor(gx);
      const iy = Math.floor(gy);
      let fx = gx - ix;
      let fy = gy - iy;
      fx = fx * fx * (3 - 2 * fx);
      fy = fy * fy * (3 - 2 * fy);
      const x0 = ix & mask;
      const x1 = (ix + 1) & mask;
      const y0 = (iy & mask) * size;
      const y1 = ((iy + 1) & mask) * size;
      const a = grid[y0 + x0] ?? 0;
      const b = grid[y0 + x1] ?? 0;
      const c = grid[y1 + x0] ?? 0;
      const d = grid[y1 + x1] ?? 0;
      return a + (b - a) * fx + (c - a) * fy + (a - b - c + d) * fx * fy;
    },
  };
}

/**
 * Sum of a few plane waves with random directions: smooth and isotropic (value noise shows its grid in contour
 * lines), for shapes such as bowel loops that are drawn from the noise's level sets.
 */
export function waveNoise(rng: Rng, wavelengthMm: number, waves = 7): Noise2 {
  const kx = new Float64Array(waves);
  const ky = new Float64Array(waves);
  const phase = new Float64Array(waves);
  for (let k = 0; k < waves; k++) {
    const angle = rng.uniform(0, Math.PI);
    const frequency = ((2 * Math.PI) / wavelengthMm) * rng.uniform(0.7, 1.4);
    kx[k] = Math.cos(angle) * frequency;
    ky[k] = Math.sin(angle) * frequency;
    phase[k] = rng.uniform(0, 2 * Math.PI);
  }
  const norm = 1 / Math.sqrt(waves * 2);
  return {
    at(x, y) {
      let sum = 0;
      for (let k = 0; k < waves; k++) sum += Math.sin((kx[k] ?? 0) * x + (ky[k] ?? 0) * y + (phase[k] ?? 0));
      const value = 0.5 + 0.5 * sum * norm * 1.6;
      return value < 0 ? 0 : value > 0.999 ? 0.999 : value;
    },
  };
}

export interface Textures {
  /** Smooth, isotropic, ~3 cm: bowel loops. */
  loops: Noise2;
  coarse: Noise2;
  medium: Noise2;
  fine: Noise2;
  /** Elongated along x: muscle fibre striation and fatty streaks. */
  streak: Noise2;
}

export function sampleTextures(rng: Rng): Textures {
  return {
    loops: waveNoise(rng, 34),
    coarse: valueNoise(rng, 11),
    medium: valueNoise(rng, 4.5),
    fine: valueNoise(rng, 1.3),
    streak: valueNoise(rng, 1.6),
  };
}

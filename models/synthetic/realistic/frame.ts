/**
 * 3-D frames in patient coordinates (DICOM LPS, mm: +x patient left, +y posterior, +z superior; PS3.3 C.7.6.2.1.1).
 * Each disc level has an anatomical frame (ex to the patient's left, ey posterior, ez along the spine, origin on the
 * midline of the posterior disc margin) and each axial stack its own scanner frame (row, column, normal), planned
 * along the disc with a small mismatch. Sagittal and axial slices sample the same anatomy through these frames, so
 * their geometry matches by construction.
 */
export type Vec3 = [number, number, number];

export const add = (a: Vec3, b: Vec3): Vec3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
export const scale = (a: Vec3, k: number): Vec3 => [a[0] * k, a[1] * k, a[2] * k];
export const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];

export interface Frame {
  /** First axis: image row direction / patient left. */
  x: Vec3;
  /** Second axis: image column direction / posterior. */
  y: Vec3;
  /** Normal: superior along the spine (x × y). */
  z: Vec3;
}

const DEG = Math.PI / 180;

/**
 * Canonical axes rotated about the patient's x axis by `pitchDeg` (positive tilts the normal anteriorly, as a
 * lordotic lower lumbar disc faces), then about the rotated normal by `rollDeg`... composed as Rx(pitch)·Ry(yaw)·Rz(roll).
 */
export function rotatedFrame(pitchDeg: number, yawDeg = 0, rollDeg = 0): Frame {
  const rotate = (v: Vec3): Vec3 => {
    // Rz(roll)
    const cr = Math.cos(rollDeg * DEG);
    const sr = Math.sin(rollDeg * DEG);
    let [x, y, z] = [v[0] * cr - v[1] * sr, v[0] * sr + v[1] * cr, v[2]];
    // Ry(yaw)
    const cy = Math.cos(yawDeg * DEG);
    const sy = Math.sin(yawDeg * DEG);
    [x, z] = [x * cy + z * sy, -x * sy + z * cy];
    // Rx(pitch): (0,0,1) → (0, −sin, cos)
    const cp = Math.cos(pitchDeg * DEG);
    const sp = Math.sin(pitchDeg * DEG);
    [y, z] = [y * cp - z * sp, y * sp + z * cp];
    return [x, y, z];
  };
  return { x: rotate([1, 0, 0]), y: rotate([0, 1, 0]), z: rotate([0, 0, 1]) };
}

/** Affine map from in-plane mm (u along `plane.x`, v along `plane.y`) at `origin` to coordinates in `target` about `targetOrigin`. */
export interface PlaneToFrame {
  x0: number;
  xu: number;
  xv: number;
  y0: number;
  yu: number;
  yv: number;
  z0: number;
  zu: number;
  zv: number;
}

export function planeToFrame(origin: Vec3, plane: Frame, targetOrigin: Vec3, target: Frame): PlaneToFrame {
  const d = sub(origin, targetOrigin);
  return {
    x0: dot(d, target.x),
    xu: dot(plane.x, target.x),
    xv: dot(plane.y, target.x),
    y0: dot(d, target.y),
    yu: dot(plane.x, target.y),
    yv: dot(plane.y, target.y),
    z0: dot(d, target.z),
    zu: dot(plane.x, target.z),
    zv: dot(plane.y, target.z),
  };
}

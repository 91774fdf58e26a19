/**
 * Slice geometry from DICOM JSON (PS3.3 §C.7.6.2 Image Plane module) in the patient coordinate system LPS:
 * +x patient left, +y posterior, +z superior (head).
 */
import { getNumber, requireNumbers, type DicomJson } from './dicom-json';
import { numberOfFrames } from './study-limits';

export type Vec3 = [number, number, number];

export interface SliceGeometry {
  /** Direction of increasing column index (along a row), ImageOrientationPatient[0..2]. */
  rowCosine: Vec3;
  /** Direction of increasing row index (down a column), ImageOrientationPatient[3..5]. */
  columnCosine: Vec3;
  /** rowCosine × columnCosine. */
  normal: Vec3;
  /** ImagePositionPatient: centre of the first transmitted pixel, mm. */
  position: Vec3;
  /** [row spacing, column spacing] mm (PixelSpacing order). */
  pixelSpacing: [number, number];
  /** Centre of the image in patient coordinates, mm, when Rows and Columns are known. */
  centre?: Vec3;
}

export const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
export const normalize = (a: Vec3): Vec3 => {
  const length = Math.hypot(a[0], a[1], a[2]) || 1;
  return [a[0] / length, a[1] / length, a[2] / length];
};

export function sliceGeometry(meta: DicomJson): SliceGeometry {
  const [r0, r1, r2, c0, c1, c2] = requireNumbers(meta, 'ImageOrientationPatient', 6) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const position = requireNumbers(meta, 'ImagePositionPatient', 3) as Vec3;
  const spacing = requireNumbers(meta, 'PixelSpacing', 2) as [number, number];
  const rowCosine = normalize([r0, r1, r2]);
  const columnCosine = normalize([c0, c1, c2]);
  const rows = getNumber(meta, 'Rows');
  const columns = getNumber(meta, 'Columns');
  // Along a row the column index grows (PixelSpacing[1] apart); down a column the row index (PixelSpacing[0]).
  const centre: Vec3 | undefined =
    rows && columns
      ? ([0, 1, 2].map(
          (axis) =>
            (position[axis] ?? 0) +
            (rowCosine[axis] ?? 0) * spacing[1] * ((columns - 1) / 2) +
            (columnCosine[axis] ?? 0) * spacing[0] * ((rows - 1) / 2),
        ) as Vec3)
      : undefined;
  return {
    rowCosine,
    columnCosine,
    normal: normalize(cross(rowCosine, columnCosine)),
    position,
    pixelSpacing: spacing,
    ...(centre ? { centre } : {}),
  };
}

/** Axial = the slice normal within `maxTiltDegrees` of the patient's z axis (lumbar axials are tilted along each disc). */
export function isAxial(geometry: SliceGeometry, maxTiltDegrees = 45): boolean {
  return Math.abs(geometry.normal[2]) >= Math.cos((maxTiltDegrees * Math.PI) / 180);
}

/**
 * Whether image columns run toward the patient's left. For ImageOrientationPatient [1,0,0,0,1,0] the row
 * direction is +x (patient left), so patient left = image right (radiological convention).
 */
export function isPatientLeftImageRight(geometry: SliceGeometry): boolean {
  return geometry.rowCosine[0] >= 0;
}

/** Sagittal = the slice normal within `maxTiltDegrees` of the patient's x axis (left-right). */
export function isSagittal(geometry: SliceGeometry, maxTiltDegrees = 45): boolean {
  return Math.abs(geometry.normal[0]) >= Math.cos((maxTiltDegrees * Math.PI) / 180);
}

const SHARED_FUNCTIONAL_GROUPS = '52009229';
const PER_FRAME_FUNCTIONAL_GROUPS = '52009230';

/** The attributes nested one level down in a functional group item (PS3.3 §C.7.6.16), flattened. */
function flattenGroup(item: DicomJson | undefined): DicomJson {
  const flat: DicomJson = {};
  for (const element of Object.values(item ?? {})) {
    for (const nested of element?.Value ?? []) {
      if (typeof nested === 'object' && nested !== null && !(nested instanceof ArrayBuffer)) {
        Object.assign(flat, nested as DicomJson);
      }
    }
  }
  return flat;
}

/**
 * Geometry of every frame: single-frame images read the Image Plane module; enhanced multi-frame images
 * (Enhanced MR, PS3.3 §C.7.6.16) read Plane Position / Plane Orientation / Pixel Measures from the
 * per-frame functional groups, falling back to the shared ones. NumberOfFrames is checked before anything is
 * allocated per frame (study-limits.ts `numberOfFrames`): a malformed one is a DicomMetadataError, one beyond
 * `maxFrames` a StudyLimitError.
 */
export function frameGeometries(meta: DicomJson, maxFrames?: number): SliceGeometry[] {
  const frames = numberOfFrames(meta, maxFrames);
  const perFrame = meta[PER_FRAME_FUNCTIONAL_GROUPS]?.Value as DicomJson[] | undefined;
  const shared = (meta[SHARED_FUNCTIONAL_GROUPS]?.Value as DicomJson[] | undefined)?.[0];
  if (!perFrame && !shared) {
    const geometry = sliceGeometry(meta);
    return Array.from({ length: frames }, () => geometry);
  }
  const sharedFlat = flattenGroup(shared);
  return Array.from({ length: frames }, (_, i) =>
    sliceGeometry({ ...meta, ...sharedFlat, ...flattenGroup(perFrame?.[i]) }),
  );
}

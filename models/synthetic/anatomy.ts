/**
 * The phantom's canonical axial anatomy at a lumbar disc level, in pixel coordinates of a 256 × 256 slice
 * (x = column, y = row, origin at the top-left corner of the first pixel, so pixel (c, r) covers [c, c+1) × [r, r+1)).
 * Anterior is up (small y), the patient's left is image right (large x): ImageOrientationPatient [1,0,0,0,1,0].
 *
 * Every level uses the same geometry for now; a later, realistic generator varies it. The tiny fixed-weight
 * detector (models/tiny) reads these numbers, so keep them in this one place.
 */
import type { PixelPoint } from '../../server/src/findings/findings';

export const PHANTOM_IMAGE_SIZE = 256;
export const PHANTOM_PIXEL_SPACING_MM = 0.8;

export interface PhantomGeometry {
  /** Row of the posterior disc margin (the chord of the disc's posterior border). */
  discMarginY: number;
  /** Medial edges of the facet joints, image-left (patient right) first; the intra-facet line joins them. */
  facetMedialEdges: readonly [PixelPoint, PixelPoint];
  /**
   * Where herniated material can appear: behind the disc margin, across the canal and both foramina. In a
   * normal slice everything here is either bright (CSF, foraminal fat) or dark (bone, ligament), never the
   * intermediate signal of disc material — which is what makes the phantom detectable by fixed weights.
   */
  searchRegion: { x0: number; y0: number; x1: number; y1: number };
}

export const PHANTOM_GEOMETRY: PhantomGeometry = {
  discMarginY: 133,
  facetMedialEdges: [
    [106, 158],
    [150, 158],
  ],
  searchRegion: { x0: 84, y0: 133, x1: 172, y1: 173 },
};

/** Modality values (12-bit) of the phantom's tissues on T2: fluid and fat bright, muscle and bone dark. */
export const T2_INTENSITY = {
  air: 0,
  fat: 3300,
  softTissue: 1100,
  muscle: 850,
  csf: 3800,
  annulus: 1000,
  nucleus: 2400,
  /** Extruded disc material: intermediate, darker than CSF and fat, brighter than bone and ligament. */
  herniation: 1600,
  vertebralBody: 1800,
  bone: 300,
  ligament: 300,
  facetFluid: 3000,
} as const;

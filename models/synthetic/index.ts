export {
  generatePhantomStudy,
  defaultHerniations,
  PHANTOM_GROUND_TRUTH_MODEL,
  type GeneratedInstance,
  type GeneratedStudy,
  type PhantomHerniation,
  type PhantomStudyOptions,
} from './phantom';
export { PHANTOM_GEOMETRY, PHANTOM_IMAGE_SIZE, PHANTOM_PIXEL_SPACING_MM, type PhantomGeometry } from './anatomy';
export { classifyMsu, measureBox, type MsuClass, type MsuMeasurement } from './msu-geometry';

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
export { classifyMsu, measureBox, type MsuClass, type MsuMeasurement } from '../../server/src/inference/msu-geometry';
export {
  generateSyntheticStudy,
  SYNTHETIC_GROUND_TRUTH_MODEL,
  type SyntheticStudy,
  type SyntheticStudyOptions,
  type SyntheticFindings,
  type SyntheticLevelFinding,
  type GeneratedSeries,
  type SliceBox,
  type SnrLevel,
} from './study';
export { measurePoints } from '../../server/src/inference/msu-geometry';
export {
  TRANSFER_SYNTAXES,
  transcodeAll,
  isTransferSyntaxName,
  findMissingEncoders,
  type CommandLookup,
  type MissingEncoder,
  type TransferSyntaxName,
} from './transfer-syntax';
export { writeDatasetStudy, DATASET_CLASSES } from './dataset';
export type { PlannedHerniation } from './realistic/herniation';

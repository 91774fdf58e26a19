/**
 * A generated study as the pipeline reads it: its Part 10 instances parsed and served as a StudySource, as a folder
 * of DICOM files would be.
 */
import type { GeneratedStudy } from '../../models/synthetic';
import { readPart10 } from '../../server/src/dicom/part10';
import type { StudySource } from '../../server/src/pipeline/analyze-images';
import { part10StudySource } from '../../server/src/pipeline/folder-source';

export function generatedStudySource(study: GeneratedStudy): StudySource {
  return part10StudySource(study.instances.map((instance) => readPart10(instance.part10)));
}

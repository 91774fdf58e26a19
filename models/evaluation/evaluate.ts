/**
 * Evaluation of predicted findings against ground truth in the seed paper's terms (docs/msu.md §Evaluation), for its
 * two tasks: grading (MSU grade 1/2/3) and localization (zone A/B/C/AB/BC). Items are disc levels; a level without
 * herniation is the category "none".
 */
import type { Findings, LevelFinding, PixelBox } from '../../server/src/findings/findings';
import { agreementTable, cohenKappa, gwetAc1, percentAgreement } from './agreement';
import { classificationReport, type ClassificationReport, type RateWithInterval } from './classification';
import { bootstrapInterval, wilsonInterval, type Interval } from './confidence';
import { matchDetections, meanIou, recall, type PredictedBox, type TruthBox } from './detection';

export type Task = 'grading' | 'localization';

export const TASK_CATEGORIES: Record<Task, readonly string[]> = {
  grading: ['none', '1', '2', '3'],
  localization: ['none', 'A', 'B', 'C', 'AB', 'BC'],
};

export interface StudyPair {
  truth: Findings;
  predicted: Findings;
}

/** Ground truth may carry the herniation's box on every slice where it shows (the generator writes them). */
interface TruthSliceBoxes {
  herniationSlices?: { sopInstanceUid: string; box: PixelBox }[];
}

function labelOf(finding: LevelFinding | undefined, task: Task): string {
  if (!finding?.herniation) return 'none';
  return task === 'grading' ? String(finding.grade) : finding.zone;
}

export interface TaskReport {
  task: Task;
  items: number;
  meanIoU: { value: number; ci: Interval };
  recall: RateWithInterval;
  /** The same with class-aware matching (the box must also carry the task's true label; see detection.ts). */
  classAware: { meanIoU: number; recall: RateWithInterval };
  ac1: { value: number; ci: Interval };
  kappa: { value: number; ci: Interval };
  percentAgreement: RateWithInterval;
  classification: ClassificationReport;
}

export function evaluateTask(pairs: readonly StudyPair[], task: Task): TaskReport {
  const truthLabels: string[] = [];
  const predictedLabels: string[] = [];
  const truthBoxes: TruthBox[] = [];
  const predictedBoxes: PredictedBox[] = [];
  for (const { truth, predicted } of pairs) {
    for (const truthLevel of truth.levels) {
      const key = `${truth.studyInstanceUid}|${truthLevel.level}`;
      const predictedLevel = predicted.levels.find((level) => level.level === truthLevel.level);
      truthLabels.push(labelOf(truthLevel, task));
      predictedLabels.push(labelOf(predictedLevel, task));
      if (truthLevel.herniation) {
        const extra = (truthLevel as LevelFinding & TruthSliceBoxes).herniationSlices;
        truthBoxes.push({
          key,
          label: labelOf(truthLevel, task),
          boxes:
            extra && extra.length > 0
              ? extra
              : [{ sopInstanceUid: truthLevel.keySlice.sopInstanceUid, box: truthLevel.box }],
        });
      }
      if (predictedLevel?.herniation) {
        predictedBoxes.push({
          key,
          label: labelOf(predictedLevel, task),
          sopInstanceUid: predictedLevel.keySlice.sopInstanceUid,
          box: predictedLevel.box,
          score: predictedLevel.confidence,
        });
      }
    }
  }
  const categories = TASK_CATEGORIES[task];
  const detection = matchDetections(truthBoxes, predictedBoxes);
  const sameLabel = matchDetections(truthBoxes, predictedBoxes, { labelAware: true });
  const table = agreementTable(truthLabels, predictedLabels, categories);
  const agreeing = truthLabels.filter((label, i) => label === predictedLabels[i]).length;
  const resampled = (statistic: typeof gwetAc1) => (indices: number[]) =>
    statistic(
      agreementTable(
        indices.map((i) => truthLabels[i] ?? ''),
        indices.map((i) => predictedLabels[i] ?? ''),
        categories,
      ),
    );
  const matchIous = detection.matches.map((match) => match.iou);
  return {
    task,
    items: truthLabels.length,
    meanIoU: {
      value: meanIou(detection),
      ci: bootstrapInterval(
        matchIous.length,
        (indices) => indices.reduce((sum, i) => sum + (matchIous[i] ?? 0), 0) / indices.length,
      ),
    },
    recall: { value: recall(detection), ci: wilsonInterval(detection.matches.length, detection.truthCount) },
    classAware: {
      meanIoU: meanIou(sameLabel),
      recall: { value: recall(sameLabel), ci: wilsonInterval(sameLabel.matches.length, sameLabel.truthCount) },
    },
    ac1: { value: gwetAc1(table), ci: bootstrapInterval(truthLabels.length, resampled(gwetAc1)) },
    kappa: { value: cohenKappa(table), ci: bootstrapInterval(truthLabels.length, resampled(cohenKappa)) },
    percentAgreement: { value: percentAgreement(table), ci: wilsonInterval(agreeing, truthLabels.length) },
    classification: classificationReport(truthLabels, predictedLabels, categories, categories.slice(1)),
  };
}

/**
 * How often a found herniation is reported on the truth's key slice — the one axial slice MSU is read on, where the
 * herniation is largest (docs/msu.md §Key slice). Over the truth's herniated levels that the model also calls
 * herniated, whatever the box; the clinician reviews the finding on that slice.
 */
export function keySliceAgreement(
  pairs: readonly StudyPair[],
): { found: number; onKeySlice: number } & RateWithInterval {
  let found = 0;
  let onKeySlice = 0;
  for (const { truth, predicted } of pairs) {
    for (const truthLevel of truth.levels) {
      const predictedLevel = predicted.levels.find((level) => level.level === truthLevel.level);
      if (!truthLevel.herniation || !predictedLevel?.herniation) continue;
      found++;
      const [t, p] = [truthLevel.keySlice, predictedLevel.keySlice];
      if (t.sopInstanceUid === p.sopInstanceUid && t.frame === p.frame) onKeySlice++;
    }
  }
  return {
    found,
    onKeySlice,
    value: found > 0 ? onKeySlice / found : Number.NaN,
    ci: wilsonInterval(onKeySlice, found),
  };
}

/** The `--json` shape of issue 5: each metric a number or { value, ci }; sensitivity/specificity macro averages. */
export function taskReportToJson(report: TaskReport): Record<string, unknown> {
  return {
    meanIoU: report.meanIoU,
    recall: report.recall,
    meanIoUClassAware: report.classAware.meanIoU,
    recallClassAware: report.classAware.recall,
    ac1: report.ac1,
    kappa: report.kappa,
    sensitivity: report.classification.macro.sensitivity,
    specificity: report.classification.macro.specificity,
  };
}

/**
 * Candidate verification (manifest `verification`): every slice's strongest whole-slice detection is re-scored on a
 * zoomed crop, and presence, key slice and confidence follow the verified score. The default model as shipped, against
 * the same model with `verification` removed from its manifest or given no weight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { openModelSessions, type ModelSessions } from '../../../test/support/model-sessions';
import { generatedStudySource } from '../../../test/support/study-source';
import type { DetectOptions, DetectorSession, RefineRequest } from '../inference/detector-session';
import type { Findings } from '../findings/findings';
import type { ModelManifestInput } from '../inference/manifest';
import { iou } from '../inference/yolo';
import { analyzeImages, type StudySource } from './analyze-images';

const MODEL_DIR = 'models/msu-ldh/1.8.0';
/** A presence threshold low enough that every level with a detection is reported, with its box and its score. */
const EVERY_LEVEL = 0.02;

let models: ModelSessions<'reportedOnly' | 'unweighted' | 'verified' | 'wholeSliceScores'>;

/**
 * Corroboration and the key-slice rule read other detections on neighbouring slices, which verification drops (a slice
 * keeps only its verified candidate): without them, a verifier that has no weight must change nothing at all.
 */
const withoutNeighbourRules = (manifest: ModelManifestInput): void => {
  delete manifest.corroboration;
  delete manifest.keySlice;
};

beforeAll(async () => {
  models = await openModelSessions('verify', {
    reportedOnly: {
      model: MODEL_DIR,
      edit: (manifest) => {
        withoutNeighbourRules(manifest);
        delete manifest.verification;
      },
    },
    unweighted: {
      model: MODEL_DIR,
      edit: (manifest) => {
        withoutNeighbourRules(manifest);
        expect(manifest.verification).toMatchObject({ file: 'verify.onnx', weight: 0.7 });
        if (manifest.verification) Object.assign(manifest.verification, { candidateScore: 0, weight: 0 });
      },
    },
    verified: { model: MODEL_DIR },
    // 1.8.0 without verification, every level's whole-slice (corroborated) score reported, to sweep a threshold over.
    wholeSliceScores: {
      model: MODEL_DIR,
      edit: (manifest) => {
        delete manifest.verification;
        manifest.thresholds.confidence = EVERY_LEVEL;
      },
    },
  });
}, 60_000);

afterAll(() => models.release());

interface TestStudy {
  source: StudySource;
  studyInstanceUid: string;
  truth: TruthLevel[];
}

/** A synthetic study: 1.5 T, high SNR, 320², or the external acquisition (3 T, low SNR, 512²). */
function syntheticStudy(seed: number, field: 1.5 | 3 = 1.5): TestStudy {
  const study = generateSyntheticStudy({
    seed,
    patientId: `verify-${seed}`,
    field,
    snr: field === 3 ? 'low' : 'high',
    matrix: field === 3 ? 512 : 320,
  });
  return {
    source: generatedStudySource(study),
    studyInstanceUid: study.studyInstanceUid,
    truth: study.groundTruth.levels,
  };
}

/** Findings, and how many crops the verifier was asked to score (the session passes through, counting). */
async function analyze(
  study: TestStudy,
  session: DetectorSession,
): Promise<{ findings: Findings; crops: number; slices: number }> {
  let crops = 0;
  const counting: DetectorSession = {
    ...session,
    ...(session.verify && {
      verify: (requests: RefineRequest[], options?: Pick<DetectOptions, 'onStage'>) => {
        crops += requests.length;
        return session.verify?.(requests, options) ?? Promise.resolve([]);
      },
    }),
  };
  const { findings, slices } = await analyzeImages(study.source, study.studyInstanceUid, counting);
  return { findings, crops, slices };
}

interface TruthLevel {
  level: string;
  herniation: boolean;
  herniationSlices?: { sopInstanceUid: string; box: [number, number, number, number] }[];
}

/** docs/msu.md §Detection matching: the reported box on a slice where the truth marks the herniation, IoU ≥ 0.5. */
function score(findings: Findings, truth: TruthLevel[]): { found: number; herniations: number; falseCalls: number } {
  let found = 0;
  let falseCalls = 0;
  for (const finding of findings.levels) {
    const t = truth.find((level) => level.level === finding.level);
    if (!finding.herniation) continue;
    if (!t?.herniation) {
      falseCalls++;
      continue;
    }
    const truthBox = t.herniationSlices?.find((s) => s.sopInstanceUid === finding.keySlice.sopInstanceUid)?.box;
    if (truthBox && iou(finding.box, truthBox) >= 0.5) found++;
  }
  return { found, herniations: truth.filter((t) => t.herniation).length, falseCalls };
}

interface LevelScore {
  herniation: boolean;
  /** The level's presence score, whether or not it reached the threshold. */
  score: number;
  /** Its reported box is on a slice where the truth marks the herniation, at IoU ≥ 0.5. */
  matched: boolean;
}

function levelScores(findings: Findings, truth: TruthLevel[]): LevelScore[] {
  return findings.levels.map((finding) => {
    const t = truth.find((level) => level.level === finding.level);
    if (!finding.herniation)
      return { herniation: t?.herniation ?? false, score: 1 - finding.confidence, matched: false };
    const truthBox = t?.herniationSlices?.find((s) => s.sopInstanceUid === finding.keySlice.sopInstanceUid)?.box;
    return {
      herniation: t?.herniation ?? false,
      score: finding.confidence,
      matched: truthBox !== undefined && iou(finding.box, truthBox) >= 0.5,
    };
  });
}

/**
 * Studies of the 3 T tuning set `tune7ext` (1.8.0's model card; low SNR, 512²), chosen by a search of 1.8.0 with and
 * without verification over all its 30 studies (seeds 953500–953529): the four that hold every level deciding the
 * comparison below. Over the 30, verification (as shipped, threshold 0.5) found 30 of 31 herniations with 1 false call
 * of 119 normal levels; to find as many, the whole-slice score needs a threshold of 0.31 or lower, where it calls 3.
 * Here: 6 found with 1 false call, against 3. On the held-out 3 T studies 974000–974019 and the internal tuning studies
 * 955000–955019 (medium SNR, 320²) and 957000–957019 (448²) the two tie, with no false call either way: with the 384²
 * detector, what verification adds is small. (With 1.4.0's 256² detector, on 974000–974019: 3 false calls against 5.)
 */
const DECIDING_STUDIES = [953519, 953521, 953524, 953529];

describe('candidate verification', () => {
  it('when the zoomed score has weight 0 and every slice is a candidate, then the findings are those without verification', async () => {
    for (const seed of [973000, 973001, 973002]) {
      const study = syntheticStudy(seed);
      const [reported, verified] = [
        await analyze(study, models.sessions.reportedOnly),
        await analyze(study, models.sessions.unweighted),
      ];
      const [reportedOnly, unweighted] = [reported.findings, verified.findings];
      // Every slice was a candidate (a slice with no detection at all above the 0.01 floor could be skipped).
      expect(verified.crops).toBeGreaterThan(verified.slices - 3);
      expect(reported.crops).toBe(0);
      expect(unweighted.levels.map((l) => [l.level, l.herniation, l.keySlice, l.confidence])).toEqual(
        reportedOnly.levels.map((l) => [l.level, l.herniation, l.keySlice, l.confidence]),
      );
      reportedOnly.levels.forEach((level, i) => {
        const other = unweighted.levels[i];
        if (!level.herniation || !other?.herniation) return;
        expect([other.grade, other.zone]).toEqual([level.grade, level.zone]);
        other.box.forEach((edge, k) => {
          expect(edge).toBeCloseTo(level.box[k] ?? Number.NaN, 3);
        });
      });
    }
  }, 120_000);

  it('when 1.8.0 verifies candidates on 3 T low-SNR studies, then the whole-slice score alone, at any threshold that finds as many herniations, calls more normal levels herniated', async () => {
    const verified = { found: 0, falseCalls: 0, herniations: 0 };
    const wholeSlice: LevelScore[] = [];
    for (const seed of DECIDING_STUDIES) {
      const study = syntheticStudy(seed, 3);
      const v = score((await analyze(study, models.sessions.verified)).findings, study.truth);
      verified.found += v.found;
      verified.falseCalls += v.falseCalls;
      verified.herniations += v.herniations;
      wholeSlice.push(...levelScores((await analyze(study, models.sessions.wholeSliceScores)).findings, study.truth));
    }
    // The whole-slice score at each threshold that matters (a level's score), where it finds as many as verification.
    const asMany = wholeSlice
      .map(({ score: threshold }) => ({
        threshold,
        found: wholeSlice.filter((l) => l.herniation && l.matched && l.score >= threshold).length,
        falseCalls: wholeSlice.filter((l) => !l.herniation && l.score >= threshold).length,
      }))
      .filter(({ found }) => found >= verified.found);
    // No such threshold (Infinity): the whole-slice score never finds as many, which verification wins too.
    const fewest = Math.min(...asMany.map(({ falseCalls }) => falseCalls));
    console.log(`verification: ${JSON.stringify(verified)}; whole-slice score, as many found: ${fewest} false calls`);
    expect(verified.found).toBeGreaterThan(0);
    expect(fewest).toBeGreaterThan(verified.falseCalls);
  }, 300_000);
});

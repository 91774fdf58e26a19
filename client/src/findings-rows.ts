/**
 * Findings → the rows of the findings table. Pure, so the clinical wording is unit-tested: the MSU
 * report string (docs/msu.md §Report string), percent confidence, the key slice as a position in its level's stack,
 * and one row per disc level in anatomical order whatever order (or gaps) the server sends.
 */
import type { DiscLevel, Findings, LevelFinding, SliceRef } from '../../server/src/findings/findings';
import type { LevelStack, StudyStacks } from '../../server/src/findings/viewer';

/** L1-L2 … L5-S1, top to bottom (the server's DISC_LEVELS; repeated because the client imports only types). */
export const TABLE_LEVELS: readonly DiscLevel[] = ['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1'];

export interface FindingRow {
  level: DiscLevel;
  /** `2-AB`, `No herniation`, or `Not assessed` when the server sent nothing for the level. */
  finding: string;
  herniation: boolean | null;
  grade: string;
  zone: string;
  side: string;
  confidence: string;
  /** `Key slice 4 of 9` once the level's stack is known, else `Key slice`; a dash for none. */
  keySlice: string;
  /** The full SOP Instance UID and frame, for a tooltip. */
  keySliceFull: string;
}

const NONE = '—';

const SIDE_LABELS: Record<string, string> = { left: 'Left', right: 'Right', central: 'Central' };

/** The MSU string for one level without the level prefix: `2-AB` or `No herniation`. */
export function levelFindingToMsu(finding: LevelFinding): string {
  return finding.herniation ? `${finding.grade}-${finding.zone}` : 'No herniation';
}

/** 0.934 → `93%`; out-of-range or missing values show as a dash instead of a wrong number. */
export function formatConfidence(confidence: number | undefined): string {
  if (confidence === undefined || !Number.isFinite(confidence) || confidence < 0 || confidence > 1) return NONE;
  return `${Math.round(confidence * 100)}%`;
}

/**
 * Where the key slice sits in its level's stack, counted from 1 as the viewer counts: `Key slice 4 of 9`. Before the
 * stacks are loaded (they are read when a level is first opened) only `Key slice`; never a truncated UID.
 */
export function keySliceLabel(slice: SliceRef | undefined, stack?: LevelStack): string {
  if (!slice) return NONE;
  const index =
    stack?.slices.findIndex(
      (candidate) => candidate.sopInstanceUid === slice.sopInstanceUid && candidate.frame === slice.frame,
    ) ?? -1;
  if (stack && index >= 0) return `Key slice ${index + 1} of ${stack.slices.length}`;
  return 'Key slice';
}

export function levelFindingToRow(finding: LevelFinding, stack?: LevelStack): FindingRow {
  const slice = finding.keySlice;
  return {
    level: finding.level,
    finding: levelFindingToMsu(finding),
    herniation: finding.herniation,
    grade: finding.herniation ? String(finding.grade) : NONE,
    zone: finding.herniation ? finding.zone : NONE,
    side: finding.herniation ? (SIDE_LABELS[finding.side] ?? finding.side) : NONE,
    confidence: formatConfidence(finding.confidence),
    keySlice: keySliceLabel(slice, stack),
    keySliceFull: slice ? `SOP Instance UID ${slice.sopInstanceUid}, frame ${slice.frame}` : 'No key slice',
  };
}

function missingLevelRow(level: DiscLevel): FindingRow {
  return {
    level,
    finding: 'Not assessed',
    herniation: null,
    grade: NONE,
    zone: NONE,
    side: NONE,
    confidence: NONE,
    keySlice: NONE,
    keySliceFull: 'No key slice',
  };
}

/** Exactly one row per level, L1-L2 first; the first finding for a level wins if the server repeats one. */
export function findingsToRows(findings: Pick<Findings, 'levels'>, stacks?: Pick<StudyStacks, 'levels'>): FindingRow[] {
  return TABLE_LEVELS.map((level) => {
    const finding = findings.levels.find((candidate) => candidate.level === level);
    const stack = stacks?.levels.find((candidate) => candidate.level === level);
    return finding ? levelFindingToRow(finding, stack) : missingLevelRow(level);
  });
}

/** `msu-ldh 1.4.1` — which model produced the findings. */
export function modelLabel(findings: Pick<Findings, 'model'>): string {
  return `${findings.model.id} ${findings.model.version}`;
}

/**
 * Findings → the rows of the findings table. Pure, so the clinical wording is unit-tested: the MSU
 * report string (docs/msu.md §Report string), percent confidence, the key slice, and one row per disc level in
 * anatomical order whatever order (or gaps) the server sends.
 */
import type { DiscLevel, Findings, LevelFinding } from '../../server/src/findings/findings';

/** L1-L2 … L5-S1, top to bottom (the server's DISC_LEVELS; repeated because the client imports only types). */
export const TABLE_LEVELS: readonly DiscLevel[] = ['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1'];

export const AI_STATUS_LABEL = 'Preliminary (AI)';

export interface FindingRow {
  level: DiscLevel;
  /** `2-AB`, `No herniation`, or `Not assessed` when the server sent nothing for the level. */
  finding: string;
  herniation: boolean | null;
  grade: string;
  zone: string;
  side: string;
  confidence: string;
  keySlice: string;
  /** The full SOP Instance UID and frame, for a tooltip and screen readers. */
  keySliceFull: string;
  status: string;
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
 * Keeps the last whole components of a DICOM UID, where instances of one series differ:
 * `1.2.826.0.1.3680043.8.498.10293847561.42` → `…10293847561.42`. Short UIDs are left as they are.
 */
export function shortenUid(uid: string, keep = 14): string {
  if (uid.length <= keep + 1) return uid;
  const parts = uid.split('.');
  let tail = parts.pop() ?? '';
  if (tail.length > keep) return `…${tail.slice(-keep)}`;
  for (let next = parts.at(-1); next !== undefined && tail.length + 1 + next.length <= keep; next = parts.at(-1)) {
    tail = `${next}.${tail}`;
    parts.pop();
  }
  return `…${tail}`;
}

export function levelFindingToRow(finding: LevelFinding): FindingRow {
  const slice = finding.keySlice;
  return {
    level: finding.level,
    finding: levelFindingToMsu(finding),
    herniation: finding.herniation,
    grade: finding.herniation ? String(finding.grade) : NONE,
    zone: finding.herniation ? finding.zone : NONE,
    side: finding.herniation ? (SIDE_LABELS[finding.side] ?? finding.side) : NONE,
    confidence: formatConfidence(finding.confidence),
    keySlice: slice ? `${shortenUid(slice.sopInstanceUid)} · frame ${slice.frame}` : NONE,
    keySliceFull: slice ? `SOP Instance UID ${slice.sopInstanceUid}, frame ${slice.frame}` : 'No key slice',
    status: AI_STATUS_LABEL,
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
    status: AI_STATUS_LABEL,
  };
}

/** Exactly one row per level, L1-L2 first; the first finding for a level wins if the server repeats one. */
export function findingsToRows(findings: Pick<Findings, 'levels'>): FindingRow[] {
  return TABLE_LEVELS.map((level) => {
    const finding = findings.levels.find((candidate) => candidate.level === level);
    return finding ? levelFindingToRow(finding) : missingLevelRow(level);
  });
}

/** `msu-ldh 1.4.1` — which model produced the findings. */
export function modelLabel(findings: Pick<Findings, 'model'>): string {
  return `${findings.model.id} ${findings.model.version}`;
}

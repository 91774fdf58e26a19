/** Data factories for the client's unit tests (partial overrides, Goldberg style). */
import type { Findings, HerniationLevelFinding, NormalLevelFinding } from '../../server/src/findings/findings';

export function aHerniation(overrides: Partial<HerniationLevelFinding> = {}): HerniationLevelFinding {
  return {
    level: 'L4-L5',
    herniation: true,
    grade: 2,
    zone: 'AB',
    side: 'left',
    confidence: 0.934,
    keySlice: { sopInstanceUid: '1.2.826.0.1.3680043.8.498.10293847561.42', frame: 1 },
    box: [10, 20, 30, 40],
    ...overrides,
  };
}

export function aNormalLevel(overrides: Partial<NormalLevelFinding> = {}): NormalLevelFinding {
  return { level: 'L5-S1', herniation: false, confidence: 0.97, ...overrides };
}

export function someFindings(overrides: Partial<Findings> = {}): Findings {
  return {
    studyInstanceUid: '1.2.3',
    seriesInstanceUid: '1.2.3.4',
    model: { id: 'msu-ldh-phantom', version: '0.1.0' },
    levels: [
      aNormalLevel({ level: 'L1-L2' }),
      aNormalLevel({ level: 'L2-L3' }),
      aNormalLevel({ level: 'L3-L4' }),
      aHerniation(),
      aNormalLevel(),
    ],
    warnings: [],
    ...overrides,
  };
}

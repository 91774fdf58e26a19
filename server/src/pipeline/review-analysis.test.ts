import { describe, expect, it } from 'vitest';
import { PipelineError } from './pipeline-error';
import { parseReviewRequest, reviewKey } from './review-analysis';

const base = { diagnosticReport: 'DiagnosticReport/r1', versionId: '3' };
const problemOf = (body: unknown): string => {
  try {
    parseReviewRequest(body);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(PipelineError);
    return (error as PipelineError).message;
  }
};

describe('parseReviewRequest', () => {
  it('when the review is complete, then it is accepted with its text trimmed', () => {
    expect(
      parseReviewRequest({
        ...base,
        levels: [
          { level: 'L4-L5', decision: 'edit', reading: { herniation: false }, comment: '  ok ' },
          { level: 'L5-S1', decision: 'reject', reason: ' artefact ' },
        ],
        comment: ' ',
      }),
    ).toEqual({
      ...base,
      levels: [
        { level: 'L4-L5', decision: 'edit', reading: { herniation: false }, comment: 'ok' },
        { level: 'L5-S1', decision: 'reject', reason: 'artefact' },
      ],
    });
  });

  it.each([
    [{ ...base, levels: [] }, 'levels must list a decision for every assessed level'],
    [
      { ...base, versionId: '', levels: [{ level: 'L4-L5', decision: 'confirm' }] },
      "versionId must be the report's meta.versionId as last read",
    ],
    [
      { ...base, diagnosticReport: 'Observation/1', levels: [{ level: 'L4-L5', decision: 'confirm' }] },
      'diagnosticReport must be "DiagnosticReport/<id>"',
    ],
    [
      { ...base, levels: [{ level: 'L6-L7', decision: 'confirm' }] },
      'levels[0].level must be one of L1-L2, L2-L3, L3-L4, L4-L5, L5-S1',
    ],
    [
      {
        ...base,
        levels: [
          { level: 'L4-L5', decision: 'confirm' },
          { level: 'L4-L5', decision: 'confirm' },
        ],
      },
      'L4-L5 is decided twice',
    ],
    [{ ...base, levels: [{ level: 'L4-L5', decision: 'approve' }] }, 'L4-L5: decision must be confirm, edit or reject'],
    [
      {
        ...base,
        levels: [
          { level: 'L4-L5', decision: 'edit', reading: { herniation: true, grade: 2, zone: 'D', side: 'left' } },
        ],
      },
      "L4-L5: an edit needs the clinician's reading",
    ],
    [{ ...base, levels: [{ level: 'L5-S1', decision: 'reject' }] }, 'L5-S1: a rejection needs a reason'],
  ])('when the review is %j, then 400 says what is wrong', (body, problem) => {
    expect(problemOf(body)).toContain(problem);
  });
});

describe('reviewKey', () => {
  const review = { ...base, levels: [{ level: 'L4-L5' as const, decision: 'confirm' as const }] };
  it('when the same clinician saves the same review, then the key is the same; another signer or version, another key', () => {
    expect(reviewKey(review, 'Practitioner/a')).toBe(reviewKey({ ...review }, 'Practitioner/a'));
    expect(reviewKey(review, 'Practitioner/b')).not.toBe(reviewKey(review, 'Practitioner/a'));
    expect(reviewKey({ ...review, versionId: '4' }, 'Practitioner/a')).not.toBe(reviewKey(review, 'Practitioner/a'));
  });
});

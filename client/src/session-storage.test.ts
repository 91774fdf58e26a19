import { describe, expect, it } from 'vitest';
import {
  analysisJobKey,
  clearPendingReview,
  forgetAnalysisJob,
  loadPendingReview,
  pendingReviewKey,
  rememberAnalysisJob,
  rememberedAnalysisJob,
  rememberLaunchUrl,
  rememberedLaunchUrl,
  rememberedSelectedStudy,
  rememberSelectedStudy,
  savePendingReview,
  type KeyValueStorage,
} from './session-storage';

function memoryStorage(): KeyValueStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => {
      map.set(key, value);
    },
    removeItem: (key) => {
      map.delete(key);
    },
  };
}

describe('pending review in the tab', () => {
  it('when a draft is saved for a report version, then only that version reads it back', () => {
    const storage = memoryStorage();
    savePendingReview(storage, pendingReviewKey('DiagnosticReport/dr1', '3'), { comment: 'x', levels: {} });
    expect(loadPendingReview(storage, pendingReviewKey('DiagnosticReport/dr1', '3'))).toEqual({
      comment: 'x',
      levels: {},
    });
    expect(loadPendingReview(storage, pendingReviewKey('DiagnosticReport/dr1', '4'))).toBeUndefined();
    clearPendingReview(storage, pendingReviewKey('DiagnosticReport/dr1', '3'));
    expect(storage.map.size).toBe(0);
  });

  it('when storage is full or holds garbage, then the panel carries on without a draft', () => {
    const broken: KeyValueStorage = {
      getItem: () => '{not json',
      setItem: () => {
        throw new DOMException('full', 'QuotaExceededError');
      },
      removeItem: () => undefined,
    };
    expect(() => {
      savePendingReview(broken, 'k', {});
    }).not.toThrow();
    expect(loadPendingReview(broken, 'k')).toBeUndefined();
  });
});

describe('launch URL for re-authorizing', () => {
  it('when launch.html stored its URL, then the panel on the same origin gets it back', () => {
    const storage = memoryStorage();
    rememberLaunchUrl(storage, 'http://localhost:3000/launch.html?iss=http%3A%2F%2Fehr%2Ffhir&launch=L1');
    expect(rememberedLaunchUrl(storage, 'http://localhost:3000')).toBe(
      'http://localhost:3000/launch.html?iss=http%3A%2F%2Fehr%2Ffhir&launch=L1',
    );
  });

  it('when nothing was stored, or it points elsewhere or lacks iss/launch, then there is none', () => {
    const storage = memoryStorage();
    expect(rememberedLaunchUrl(storage, 'http://localhost:3000')).toBeUndefined();
    rememberLaunchUrl(storage, 'http://evil.example/launch.html?iss=x&launch=y');
    expect(rememberedLaunchUrl(storage, 'http://localhost:3000')).toBeUndefined();
    rememberLaunchUrl(storage, 'http://localhost:3000/launch.html?iss=x');
    expect(rememberedLaunchUrl(storage, 'http://localhost:3000')).toBeUndefined();
  });
});

describe('the study the tab has open', () => {
  const LAUNCH = 'http://localhost:3000/launch.html?iss=http%3A%2F%2Fehr%2Ffhir&launch=L1';

  it('when the same launch runs again (Re-authorize), then the study the tab had open is kept', () => {
    const storage = memoryStorage();
    rememberLaunchUrl(storage, LAUNCH);
    rememberSelectedStudy(storage, 'st2');
    rememberLaunchUrl(storage, LAUNCH);
    expect(rememberedSelectedStudy(storage)).toBe('st2');
  });

  it('when another launch comes to the tab (a CDS card’s link, another chart), then the study it had open is forgotten', () => {
    const storage = memoryStorage();
    rememberLaunchUrl(storage, LAUNCH);
    rememberSelectedStudy(storage, 'st2');
    rememberLaunchUrl(storage, LAUNCH.replace('L1', 'L2'));
    expect(rememberedSelectedStudy(storage)).toBeUndefined();
    expect(rememberedLaunchUrl(storage, 'http://localhost:3000')).toBe(LAUNCH.replace('L1', 'L2'));
  });
});

describe('the running analysis job in the tab', () => {
  it('when a job is remembered, then it is read back per FHIR base and study, and forgotten on request', () => {
    const storage = memoryStorage();
    const key = analysisJobKey('http://ehr.example/fhir', 'st1');
    rememberAnalysisJob(storage, key, '6f1c8e2a-4b7d-4e0f-9a3c-2d5b8e1f7a90');
    expect(rememberedAnalysisJob(storage, key)).toBe('6f1c8e2a-4b7d-4e0f-9a3c-2d5b8e1f7a90');
    expect(rememberedAnalysisJob(storage, analysisJobKey('http://other.example/fhir', 'st1'))).toBeUndefined();
    expect(rememberedAnalysisJob(storage, analysisJobKey('http://ehr.example/fhir', 'st2'))).toBeUndefined();
    // Only the id is kept: the key names the EHR and the study, the value the job.
    expect([...storage.map.entries()]).toEqual([
      ['ldh-cds:analysis-job:http://ehr.example/fhir|ImagingStudy/st1', '6f1c8e2a-4b7d-4e0f-9a3c-2d5b8e1f7a90'],
    ]);
    forgetAnalysisJob(storage, key);
    expect(rememberedAnalysisJob(storage, key)).toBeUndefined();
  });

  it('when the stored value is not a job id (tampered), then it is not used', () => {
    const storage = memoryStorage();
    const key = analysisJobKey('http://ehr.example/fhir', 'st1');
    storage.setItem(key, '../../api/analyses/review');
    expect(rememberedAnalysisJob(storage, key)).toBeUndefined();
  });
});

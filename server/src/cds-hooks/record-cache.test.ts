import { describe, expect, it } from 'vitest';
import { noteFhirWrite } from '../fhir/write-generation';
import type { PatientRecord } from './patient-record';
import { createRecordCache, type RecordCacheKey } from './record-cache';

const FHIR = 'https://record-cache.test/fhir';
const key = (overrides: Partial<RecordCacheKey> = {}): RecordCacheKey => ({
  client: 'https://ehr.test',
  fhirServer: FHIR,
  patientId: 'p1',
  ...overrides,
});

/** A loader that counts its loads and answers a record naming its load. */
function counter() {
  let loads = 0;
  const load = (): Promise<PatientRecord> => {
    loads++;
    return Promise.resolve({
      studies: [{ resourceType: 'ImagingStudy', id: `load-${loads}`, status: 'available', subject: {} }],
      reports: [],
      observations: new Map(),
      readObservations: () => Promise.resolve(),
    });
  };
  return { load, loads: () => loads };
}

const studyOf = async (record: Promise<PatientRecord>): Promise<string | undefined> => (await record).studies[0]?.id;

describe('createRecordCache', () => {
  it('when the same EHR asks for the same patient within the time to live, then the record is read once', async () => {
    let time = 0;
    const cache = createRecordCache({ ttlMs: 5000, now: () => time });
    const { load, loads } = counter();
    expect(await studyOf(cache.get(key(), load))).toBe('load-1');
    time = 4999;
    expect(await studyOf(cache.get(key(), load))).toBe('load-1');
    expect(loads()).toBe(1);
  });

  it('when the time to live has passed, then the record is read again', async () => {
    let time = 0;
    const cache = createRecordCache({ ttlMs: 5000, now: () => time });
    const { load, loads } = counter();
    await cache.get(key(), load);
    time = 5000;
    expect(await studyOf(cache.get(key(), load))).toBe('load-2');
    expect(loads()).toBe(2);
  });

  it('when fifty calls ask at once, then they share one reading', async () => {
    const cache = createRecordCache({ ttlMs: 5000 });
    const { load, loads } = counter();
    const studies = await Promise.all(Array.from({ length: 50 }, () => studyOf(cache.get(key(), load))));
    expect(new Set(studies)).toEqual(new Set(['load-1']));
    expect(loads()).toBe(1);
  });

  it('when another EHR, another FHIR base or another patient asks, then it gets its own reading', async () => {
    const cache = createRecordCache({ ttlMs: 5000 });
    const { load, loads } = counter();
    await cache.get(key(), load);
    expect(await studyOf(cache.get(key({ client: 'https://other-ehr.test' }), load))).toBe('load-2');
    expect(await studyOf(cache.get(key({ fhirServer: `${FHIR}2` }), load))).toBe('load-3');
    expect(await studyOf(cache.get(key({ patientId: 'p2' }), load))).toBe('load-4');
    expect(loads()).toBe(4);
  });

  it('when this process writes to that FHIR base, then the next call reads the record again', async () => {
    const cache = createRecordCache({ ttlMs: 60_000 });
    const { load } = counter();
    const fhirServer = `${FHIR}/written`;
    await cache.get(key({ fhirServer }), load);
    noteFhirWrite(`${fhirServer}/`);
    expect(await studyOf(cache.get(key({ fhirServer }), load))).toBe('load-2');
    // A write to another EHR changes nothing here.
    noteFhirWrite('https://elsewhere.test/fhir');
    expect(await studyOf(cache.get(key({ fhirServer }), load))).toBe('load-2');
  });

  it('when a write happens while the record is being read, then that reading is not kept', async () => {
    const cache = createRecordCache({ ttlMs: 60_000 });
    const fhirServer = `${FHIR}/racing`;
    const { load } = counter();
    const first = cache.get(key({ fhirServer }), async () => {
      noteFhirWrite(fhirServer); // the EHR changed under the reading
      return load();
    });
    expect(await studyOf(first)).toBe('load-1');
    expect(await studyOf(cache.get(key({ fhirServer }), load))).toBe('load-2');
  });

  it('when a reading fails, then it is not kept: the next call reads again', async () => {
    const cache = createRecordCache({ ttlMs: 5000 });
    await expect(cache.get(key(), () => Promise.reject(new Error('EHR down')))).rejects.toThrow('EHR down');
    const { load, loads } = counter();
    expect(await studyOf(cache.get(key(), load))).toBe('load-1');
    expect(loads()).toBe(1);
  });

  it('when the time to live is 0, then every call reads', async () => {
    const cache = createRecordCache({ ttlMs: 0 });
    const { load, loads } = counter();
    await cache.get(key(), load);
    await cache.get(key(), load);
    expect(loads()).toBe(2);
  });
});

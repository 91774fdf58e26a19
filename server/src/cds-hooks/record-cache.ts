/**
 * A short-lived cache of the patient records that hook calls without prefetch read from the EHR (patient-record.ts):
 * the patient's ImagingStudies, our DiagnosticReports and the Observations of the report a card shows. Without it every
 * such call costs the EHR three searches (docs/architecture.md §CDS Hooks: about 6 ms of the mock EHR's CPU per call,
 * twice the app's own work); an EHR calls several hooks for one patient within seconds (patient-view when the chart
 * opens, order-select at each change of the selection, order-sign), and fifty calls at once for one patient read it
 * once (the calls share the load in flight).
 *
 * Kept correct by what it is keyed on and how long it is believed:
 * - the key is the verified calling EHR (the JWT's `iss`), its FHIR base and the patient: a record read for one EHR is
 *   never shown to another, and the caller checks, on every call, that this call's `fhirAuthorization` would have let
 *   it make the same searches (trusted FHIR base, this patient, scopes) before it asks here;
 * - a record is believed only while this process has sent no write to that FHIR base since it began reading it
 *   (fhir/write-generation.ts): an analysis stored, a report signed or superseded by ldh-cds here is on the next card;
 * - and for `ttlMs` at most (CDS_RECORD_CACHE_SECONDS, default 5 s), which bounds what it cannot see: a write by another
 *   ldh-cds process (a queue worker, another replica) or by anyone else — a report marked entered-in-error in the EHR
 *   is shown for 5 s longer at most, less than it takes to go from the report to an order;
 * - a load that fails is not kept: the next call reads again (and sees the error itself).
 */
import { LRUCache } from 'lru-cache';
import { fhirWriteGeneration } from '../fhir/write-generation';
import type { PatientRecord } from './patient-record';

export interface RecordCacheKey {
  /** The calling EHR: its verified JWT `iss`. */
  client: string;
  /** The FHIR base the record was read from, without a trailing slash. */
  fhirServer: string;
  patientId: string;
}

export interface RecordCache {
  /** The record of `key`: a fresh one kept, else `load`'s (kept when it succeeds); calls at once share one load. */
  get(key: RecordCacheKey, load: () => Promise<PatientRecord>): Promise<PatientRecord>;
}

export interface RecordCacheOptions {
  /** How long a record is believed after its reading began; 0 turns the cache off. */
  ttlMs: number;
  /** Most records kept (default 1,000: a few MiB; the least recently used leaves first). */
  max?: number;
  /** The clock (tests); default Date.now. */
  now?: () => number;
}

interface Entry {
  record: Promise<PatientRecord>;
  /** fhirWriteGeneration of the FHIR base when the reading began. */
  generation: number;
  expiresAt: number;
}

export const RECORD_CACHE_MAX = 1_000;

export function createRecordCache(options: RecordCacheOptions): RecordCache {
  const now = options.now ?? Date.now;
  const entries = new LRUCache<string, Entry>({ max: options.max ?? RECORD_CACHE_MAX });
  return {
    get(key, load) {
      if (options.ttlMs <= 0) return load();
      const id = JSON.stringify([key.client, key.fhirServer, key.patientId]);
      const generation = fhirWriteGeneration(key.fhirServer);
      const kept = entries.get(id);
      if (kept && kept.generation === generation && now() < kept.expiresAt) return kept.record;
      const entry: Entry = { record: load(), generation, expiresAt: now() + options.ttlMs };
      entries.set(id, entry);
      entry.record.catch(() => {
        if (entries.get(id) === entry) entries.delete(id);
      });
      return entry.record;
    },
  };
}

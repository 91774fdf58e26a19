/**
 * How many writes this process has sent to each FHIR base: a number that changes whenever ldh-cds may have changed
 * what that EHR holds (every transaction and update of fhir-client.ts, answered or not — a write whose answer was
 * lost may still have been applied). Whoever keeps something read from an EHR notes the number when reading and
 * trusts what it kept only while the number is the same (cds-hooks/record-cache.ts): our own writes — an analysis
 * stored, a report signed or superseded — are seen by the next read at once, in this process. Writes by other
 * processes and by other systems are not counted here; such a keeper bounds their staleness with a time to live.
 */

const generations = new Map<string, number>();

const baseOf = (fhirBaseUrl: string): string => fhirBaseUrl.replace(/\/+$/, '');

/** Counts one write sent to the FHIR base (whatever its answer). */
export function noteFhirWrite(fhirBaseUrl: string): void {
  const base = baseOf(fhirBaseUrl);
  generations.set(base, (generations.get(base) ?? 0) + 1);
}

/** The number of writes this process has sent to the FHIR base so far. */
export function fhirWriteGeneration(fhirBaseUrl: string): number {
  return generations.get(baseOf(fhirBaseUrl)) ?? 0;
}

/**
 * One concept, one meaning: every 99LDHCDS code the SR writes is a code of the FHIR CodeSystem the SR header
 * points at, with the CodeSystem's display as its meaning.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { MsuGrade, MsuZone } from '../findings/findings';
import {
  LOCAL_CONCEPTS,
  LOCAL_SCHEME,
  NO_HERNIATION_FINDING,
  SIDE_CODES,
  gradeCode,
  msuClassCode,
  zoneCode,
  type Code,
} from './codes';

interface Concept {
  code: string;
  display?: string;
  concept?: Concept[];
}

const codeSystem = JSON.parse(
  readFileSync(new URL('../../fhir-definitions/CodeSystem-ldh-cds.json', import.meta.url), 'utf8'),
) as { url: string; concept?: Concept[] };
const displays = new Map<string, string | undefined>();
const collect = (concepts: Concept[] = []): void => {
  for (const concept of concepts) {
    displays.set(concept.code, concept.display);
    collect(concept.concept);
  }
};
collect(codeSystem.concept);

const grades: MsuGrade[] = [1, 2, 3];
const zones: MsuZone[] = ['A', 'B', 'C', 'AB', 'BC'];
const localCodes: Code[] = [
  ...Object.values(LOCAL_CONCEPTS),
  NO_HERNIATION_FINDING,
  ...grades.map(gradeCode),
  ...zones.map(zoneCode),
  ...grades.flatMap((grade) => zones.map((zone) => msuClassCode(grade, zone))),
  ...Object.values(SIDE_CODES),
].filter((code) => code.scheme === LOCAL_SCHEME.designator);

describe('the SR private coding scheme', () => {
  it('when the SR header names the CodeSystem, then it is the CodeSystem in server/fhir-definitions', () => {
    expect(LOCAL_SCHEME.fhirCanonicalUrl).toBe(codeSystem.url);
  });

  it.each(localCodes.map((code) => [code.value, code]))(
    'when the SR writes %s, then its meaning is the CodeSystem display',
    (_value, code) => {
      expect(displays.has(code.value)).toBe(true);
      expect(code.meaning).toBe(displays.get(code.value));
    },
  );
});

import { describe, expect, it } from 'vitest';
import type { LevelAssignment } from '../findings/findings';
import {
  DISC_LEVEL_VALUE_SET,
  HERNIATION_SIDE_VALUE_SET,
  LDH_CDS_CODE_SYSTEM,
  LEVEL_ASSIGNMENT_METHOD_VALUE_SET,
  LEVEL_FINDING_VALUE_SET,
  MSU_CLASS_VALUE_SET,
  MSU_GRADE_VALUE_SET,
  MSU_ZONE_VALUE_SET,
  ldhCdsConcept,
  valueSetCodings,
} from './definitions';

type Method = LevelAssignment['method'];

describe('definitions', () => {
  it('when a concept of ours is looked up, then its Coding carries our system and its display', () => {
    expect(ldhCdsConcept('2-AB')).toEqual({ system: LDH_CDS_CODE_SYSTEM, code: '2-AB', display: 'MSU 2-AB' });
    expect(ldhCdsConcept('no-herniation').display).toBe('No lumbar disc herniation');
  });

  it('when an unknown code is looked up, then the error names it and the CodeSystem', () => {
    expect(() => ldhCdsConcept('4-A')).toThrow(`Unknown ldh-cds code "4-A": not defined in ${LDH_CDS_CODE_SYSTEM}`);
  });

  it('when a looked-up Coding is changed, then the next lookup is not', () => {
    ldhCdsConcept('central').display = 'changed';
    expect(ldhCdsConcept('central').display).toBe('Central');
  });

  it('when a ValueSet of ours is expanded, then its Codings come in file order with displays', () => {
    expect(valueSetCodings(HERNIATION_SIDE_VALUE_SET)).toEqual([
      { system: 'http://snomed.info/sct', code: '7771000', display: 'Left' },
      { system: 'http://snomed.info/sct', code: '24028007', display: 'Right' },
      ldhCdsConcept('central'),
    ]);
    expect(valueSetCodings(DISC_LEVEL_VALUE_SET).map((coding) => coding.display)).toEqual([
      'L1/L2 disc',
      'L2/L3 disc',
      'L3/L4 disc',
      'L4/L5 disc',
      'L5/S1 disc',
    ]);
    for (const url of [MSU_CLASS_VALUE_SET, MSU_GRADE_VALUE_SET, MSU_ZONE_VALUE_SET, LEVEL_FINDING_VALUE_SET]) {
      expect(valueSetCodings(url).length, url).toBeGreaterThan(0);
    }
  });

  it('when the findings name a level assignment method, then the ValueSet holds it', () => {
    const methods = ['sagittal-cross-reference', 'counted-from-lowest-stack'] as const satisfies readonly Method[];
    // Fails to compile when the findings contract gains a method this list lacks.
    const listsEveryMethod: Exclude<Method, (typeof methods)[number]> extends never ? true : never = true;
    expect(listsEveryMethod).toBe(true);
    expect(valueSetCodings(LEVEL_ASSIGNMENT_METHOD_VALUE_SET).map((coding) => coding.code)).toEqual(methods);
  });

  it('when a ValueSet URL is not ours, then the error names it', () => {
    expect(() => valueSetCodings('http://hl7.org/fhir/ValueSet/observation-status')).toThrow(
      'Unknown ValueSet "http://hl7.org/fhir/ValueSet/observation-status"',
    );
  });
});

import type { Bundle, CodeableConcept, CodeSystem, Coding, Observation, ObservationComponent } from 'fhir/r4';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DISC_LEVEL_VALUE_SET,
  LDH_CDS_CODE_SYSTEM,
  ldhCdsConcept,
  valueSetCodings,
} from '../../server/src/fhir/definitions';
import { validateFhir } from './fhir-validation';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const SNOMED = 'http://snomed.info/sct';
const UCUM = 'http://unitsofmeasure.org';

const concept = (code: string): CodeableConcept => ({ coding: [ldhCdsConcept(code)] });
const component = (code: string, value: Omit<ObservationComponent, 'code'>): ObservationComponent => ({
  code: concept(code),
  ...value,
});
const discL4L5 = valueSetCodings(DISC_LEVEL_VALUE_SET).find((coding) => coding.code === '84020006');

/** One level Observation as docs/fhir-mapping.md §Observation describes it: L4-L5, MSU 2-AB, left. */
function levelObservation(overrides: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    meta: {
      security: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
          code: 'AIAST',
          display: 'Artificial Intelligence asserted',
        },
      ],
    },
    text: {
      status: 'generated',
      div: '<div xmlns="http://www.w3.org/1999/xhtml">AI-generated, preliminary: L4-L5: 2-AB (left)</div>',
    },
    identifier: [{ system: 'https://ldh-cds.org/fhir/identifier/level-finding', value: '1.2.3/msu-ldh/1.8.0/L4-L5' }],
    status: 'preliminary',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'imaging' }] }],
    code: { coding: [{ system: DCM, code: '121071', display: 'Finding' }] },
    subject: { reference: 'Patient/p1' },
    issued: '2026-01-02T03:04:05.000Z',
    bodySite: { coding: discL4L5 ? [discL4L5] : [], text: 'L4-L5' },
    valueCodeableConcept: {
      coding: [
        { system: SNOMED, code: '202708005', display: 'Displacement of lumbar intervertebral disc without myelopathy' },
      ],
      text: 'L4-L5: 2-AB (left)',
    },
    derivedFrom: [{ reference: 'ImagingStudy/s1' }],
    device: { reference: 'Device/d1' },
    component: [
      component('msu-class', { valueCodeableConcept: concept('2-AB') }),
      component('msu-grade', { valueCodeableConcept: concept('grade-2') }),
      component('msu-zone', { valueCodeableConcept: concept('zone-AB') }),
      component('herniation-side', { valueCodeableConcept: { coding: [{ system: SNOMED, code: '7771000' }] } }),
      component('model-confidence', { valueQuantity: { value: 0.93, unit: '1', system: UCUM, code: '1' } }),
      component('key-image-study-uid', { valueString: '1.2.826.0.1.3680043.8.498.1' }),
      component('key-image-series-uid', { valueString: '1.2.826.0.1.3680043.8.498.2' }),
      component('key-image-sop-instance-uid', { valueString: '1.2.826.0.1.3680043.8.498.3' }),
      component('key-image-frame', { valueInteger: 1 }),
      component('sr-instance-uid', { valueString: '1.2.826.0.1.3680043.8.498.4' }),
    ],
    ...overrides,
  };
}

function withComponent(index: number, replacement: ObservationComponent): Observation {
  const observation = levelObservation();
  return { ...observation, component: observation.component?.map((c, i) => (i === index ? replacement : c)) };
}

function transaction(...resources: Observation[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((resource, index) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${index}`,
      resource,
      request: { method: 'POST', url: 'Observation' },
    })),
  };
}

describe('validateFhir', () => {
  it('when a level Observation of our shape is validated, then it has no problems', () => {
    expect(validateFhir(levelObservation())).toEqual([]);
  });

  it('when a level without herniation carries the no-herniation value, then it has no problems', () => {
    const normal = levelObservation({
      valueCodeableConcept: concept('no-herniation'),
      component: [
        component('model-confidence', { valueQuantity: { value: 0.99, unit: '1', system: UCUM, code: '1' } }),
      ],
    });
    expect(validateFhir(normal)).toEqual([]);
  });

  it('when a Coding names a code the ldh-cds CodeSystem does not define, then the code and the CodeSystem are named', () => {
    const unknown = withComponent(1, {
      code: { coding: [{ system: LDH_CDS_CODE_SYSTEM, code: 'msu-size' }] },
      valueCodeableConcept: concept('grade-2'),
    });
    expect(validateFhir(unknown)).toEqual([
      `Observation.component[1].code.coding[0]: code "msu-size" is not defined in CodeSystem ${LDH_CDS_CODE_SYSTEM}`,
    ]);
  });

  it('when an ldh-cds Coding has another display, then the display and the defined one are named', () => {
    const renamed = withComponent(1, {
      code: { coding: [{ ...ldhCdsConcept('msu-grade'), display: 'MSU grade' }] },
      valueCodeableConcept: concept('grade-2'),
    });
    expect(validateFhir(renamed)).toEqual([
      `Observation.component[1].code.coding[0]: display "MSU grade" of ldh-cds#msu-grade should be "MSU size grade" (CodeSystem ${LDH_CDS_CODE_SYSTEM})`,
    ]);
  });

  it('when Observation.status is not an R4 status code, then the status is named', () => {
    const done = { ...levelObservation(), status: 'done' };
    expect(validateFhir(done)).toEqual(['Observation.status: Code "done" not found in value set']);
  });

  it('when the required Observation.code is missing, then Observation.code is named', () => {
    const withoutCode: Partial<Observation> = levelObservation();
    delete withoutCode.code;
    expect(validateFhir(withoutCode)).toContain('Observation.code: Missing property');
  });

  it('when the grade component holds a zone code, then the code and the grade ValueSet are named', () => {
    const zoneAsGrade = withComponent(1, component('msu-grade', { valueCodeableConcept: concept('zone-AB') }));
    const problems = validateFhir(zoneAsGrade);
    expect(problems).toContain(
      `Observation.component[1].valueCodeableConcept: code ${LDH_CDS_CODE_SYSTEM}#zone-AB is not in ValueSet https://ldh-cds.org/fhir/ValueSet/msu-grade`,
    );
  });

  it('when a coded observable has a value of another type, then the expected ValueSet is named', () => {
    const integerGrade = withComponent(1, component('msu-grade', { valueInteger: 2 }));
    expect(validateFhir(integerGrade)).toEqual([
      'Observation.component[1]: msu-grade needs valueCodeableConcept from ValueSet https://ldh-cds.org/fhir/ValueSet/msu-grade',
    ]);
  });

  it('when the MSU class disagrees with the grade beside it, then both are named', () => {
    const disagreeing = withComponent(1, component('msu-grade', { valueCodeableConcept: concept('grade-3') }));
    expect(validateFhir(disagreeing)).toEqual(['Observation.component: MSU class 2-AB disagrees with grade grade-3']);
  });

  it('when the value and the body site are not from our ValueSets, then each is named', () => {
    const wrong = levelObservation({
      valueCodeableConcept: concept('2-AB'),
      bodySite: { coding: [{ system: SNOMED, code: '76206002', display: 'T12/L1 disc' }] },
    });
    expect(validateFhir(wrong)).toEqual([
      `Observation.valueCodeableConcept: code ${LDH_CDS_CODE_SYSTEM}#2-AB is not in ValueSet https://ldh-cds.org/fhir/ValueSet/level-finding`,
      'Observation.bodySite: code http://snomed.info/sct#76206002 is not in ValueSet https://ldh-cds.org/fhir/ValueSet/disc-level',
    ]);
  });

  it('when a level Observation has another code than DCM 121071, then the expected code is named', () => {
    const disorderCode = levelObservation({ code: { coding: [{ system: SNOMED, code: '202708005' }] } });
    expect(validateFhir(disorderCode)).toEqual([
      `Observation.code: a level Observation's code is DCM 121071 "Finding" (${DCM})`,
    ]);
  });

  it('when confidence, UID and frame values are out of range, then each component is named', () => {
    const observation = levelObservation();
    const bad = {
      ...observation,
      component: observation.component?.map((c) => {
        const [coding] = c.code.coding ?? [];
        if (coding?.code === 'model-confidence') return { ...c, valueQuantity: { value: 93 } };
        if (coding?.code === 'key-image-sop-instance-uid') return { ...c, valueString: '1.2.03' };
        if (coding?.code === 'key-image-frame') return { ...c, valueInteger: 0 };
        return c;
      }),
    };
    expect(validateFhir(bad)).toEqual([
      'Observation.component[4]: model-confidence needs valueQuantity.value from 0 to 1 (got 93)',
      'Observation.component[7]: key-image-sop-instance-uid needs valueString holding a DICOM UID (got "1.2.03")',
      'Observation.component[8]: key-image-frame needs valueInteger ≥ 1 (got 0)',
    ]);
  });

  it('when a primitive breaks its R4 pattern where FHIR.js would let it pass, then the element is named', () => {
    const bad = { ...levelObservation(), issued: '2026-01-02' };
    const fractionalFrame = withComponent(8, component('key-image-frame', { valueInteger: 1.5 }));
    expect(validateFhir(bad)).toEqual(['Observation.issued: "2026-01-02" is not a valid instant']);
    expect(validateFhir(fractionalFrame)).toEqual([
      'Observation.component[8].valueInteger: 1.5 is not a valid integer',
      'Observation.component[8]: key-image-frame needs valueInteger ≥ 1 (got 1.5)',
    ]);
  });

  it('when an element is not part of R4 or a string is empty, then it is named', () => {
    const bad = { ...levelObservation(), bodysite: {}, note: [{ text: '' }] };
    expect(validateFhir(bad)).toEqual([
      'Observation.bodysite: Unexpected property',
      'Observation.note[0].text: empty strings are not allowed',
    ]);
  });

  it('when a transaction Bundle holds an invalid Observation, then the entry and the element are named', () => {
    const bundle = transaction(levelObservation(), { ...levelObservation(), status: 'done' as Observation['status'] });
    expect(validateFhir(transaction(levelObservation()))).toEqual([]);
    expect(validateFhir(bundle)).toEqual([
      'Bundle.entry[1].resource → Observation.status: Code "done" not found in value set',
    ]);
  });

  it('when a transaction entry has no request or a urn:uuid reference names no entry, then each is named', () => {
    const bundle = transaction(
      levelObservation({ hasMember: [{ reference: 'urn:uuid:0a0b0c0d-0000-4000-8000-000000000000' }] }),
    );
    delete bundle.entry?.[0]?.request;
    expect(validateFhir(bundle)).toEqual([
      'Bundle.entry[0]: a transaction entry needs request (bdl-3)',
      'Bundle.entry[0].resource.hasMember[0].reference: "urn:uuid:0a0b0c0d-0000-4000-8000-000000000000" names no entry of the Bundle',
    ]);
  });

  it('when our CodeSystem is validated, then it passes; with an R4 content code it does not have, then it fails', () => {
    const file = path.join(import.meta.dirname, '../../server/fhir-definitions/CodeSystem-ldh-cds.json');
    const codeSystem = JSON.parse(readFileSync(file, 'utf8')) as CodeSystem;
    expect(validateFhir(codeSystem)).toEqual([]);
    expect(validateFhir({ ...codeSystem, content: 'everything' })).toEqual([
      'CodeSystem.content: Code "everything" not found in value set',
    ]);
  });

  it('when a ValueSet includes an ldh-cds code the CodeSystem lacks, then the concept is named', () => {
    const missing: Coding = { code: 'grade-4', display: 'MSU grade 4' };
    const valueSet = {
      resourceType: 'ValueSet',
      status: 'draft',
      compose: { include: [{ system: LDH_CDS_CODE_SYSTEM, concept: [missing] }] },
    };
    expect(validateFhir(valueSet)).toEqual([
      `ValueSet.compose.include[0].concept[0]: code "grade-4" is not defined in CodeSystem ${LDH_CDS_CODE_SYSTEM}`,
    ]);
  });

  it('when the input is not a resource, then that is said', () => {
    expect(validateFhir({ status: 'final' })).toEqual([
      '(root): not a FHIR resource: an object with a resourceType is expected',
    ]);
  });
});

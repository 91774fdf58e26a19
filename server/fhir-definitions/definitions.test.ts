import type { CodeSystem, CodeSystemConcept, ValueSet } from 'fhir/r4';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFhir } from '../../test/support/fhir-validation';

const BASE = 'https://ldh-cds.org/fhir';
const files = readdirSync(import.meta.dirname).filter((file) => file.endsWith('.json'));
const read = (file: string): CodeSystem | ValueSet =>
  JSON.parse(readFileSync(path.join(import.meta.dirname, file), 'utf8')) as CodeSystem | ValueSet;
const resources = files.map((file) => ({ file, resource: read(file) }));
const codeSystem = read('CodeSystem-ldh-cds.json') as CodeSystem;
const valueSets = resources.map(({ resource }) => resource).filter((r): r is ValueSet => r.resourceType === 'ValueSet');

const flatten = (concepts: CodeSystemConcept[] = []): CodeSystemConcept[] =>
  concepts.flatMap((concept) => [concept, ...flatten(concept.concept)]);
const concepts = flatten(codeSystem.concept);
const byCode = new Map(concepts.map((concept) => [concept.code, concept]));
const propertyOf = (concept: CodeSystemConcept, name: string): string | undefined =>
  concept.property?.find((property) => property.code === name)?.valueCode;
const valueSetCodes = (id: string): string[] =>
  (valueSets.find((valueSet) => valueSet.id === id)?.compose?.include ?? []).flatMap((include) =>
    (include.concept ?? []).map((concept) => `${include.system ?? ''}|${concept.code}`),
  );

const GRADES = ['1', '2', '3'];
const ZONES = ['A', 'B', 'C', 'AB', 'BC'];

describe('server/fhir-definitions', () => {
  it.each(files)('when %s is validated against R4 and our definitions, then it has no problems', (file) => {
    expect(validateFhir(read(file))).toEqual([]);
  });

  it.each(resources)(
    'when $file is read, then its id, url and metadata follow our conventions',
    ({ file, resource }) => {
      expect(file).toBe(`${resource.resourceType}-${resource.id ?? ''}.json`);
      expect(resource.url).toBe(`${BASE}/${resource.resourceType}/${resource.id ?? ''}`);
      expect(resource).toMatchObject({ version: '1.0.0', status: 'active', experimental: false, publisher: 'ldh-cds' });
      expect(resource.text?.div).toMatch(/^<div xmlns="http:\/\/www.w3.org\/1999\/xhtml">/);
    },
  );

  it('when the CodeSystem is read, then its codes are unique, defined, displayed and counted', () => {
    expect(new Set(concepts.map((concept) => concept.code)).size).toBe(concepts.length);
    expect(codeSystem.count).toBe(concepts.length);
    for (const concept of concepts) {
      expect(concept.display, concept.code).toBeTruthy();
      expect(concept.definition, concept.code).toBeTruthy();
    }
  });

  it('when an MSU class is read, then its grade and zone properties name concepts that make up its code', () => {
    const classes = GRADES.flatMap((grade) => ZONES.map((zone) => `${grade}-${zone}`));
    for (const code of classes) {
      const concept = byCode.get(code);
      expect(concept, code).toBeDefined();
      if (!concept) continue;
      const [grade, zone] = code.split('-');
      expect(propertyOf(concept, 'grade')).toBe(`grade-${grade ?? ''}`);
      expect(propertyOf(concept, 'zone')).toBe(`zone-${zone ?? ''}`);
    }
    const propertyValues = concepts.flatMap((concept) => (concept.property ?? []).map((p) => p.valueCode));
    for (const value of propertyValues) expect(byCode.has(value ?? ''), value).toBe(true);
  });

  it('when a ValueSet includes ldh-cds codes, then each is a CodeSystem concept with the same display', () => {
    for (const valueSet of valueSets) {
      for (const include of valueSet.compose?.include ?? []) {
        expect(include.concept?.length, `${valueSet.id ?? ''} enumerates its codes`).toBeGreaterThan(0);
        if (include.system !== codeSystem.url) continue;
        for (const concept of include.concept ?? []) {
          expect(concept.display, `${valueSet.id ?? ''} ${concept.code}`).toBe(byCode.get(concept.code)?.display);
        }
      }
    }
  });

  it('when the ValueSets are read, then each holds the codes the results use', () => {
    const ours = (...codes: string[]): string[] => codes.map((code) => `${BASE}/CodeSystem/ldh-cds|${code}`);
    const snomed = (...codes: string[]): string[] => codes.map((code) => `http://snomed.info/sct|${code}`);
    expect(valueSetCodes('msu-class')).toEqual(ours(...GRADES.flatMap((g) => ZONES.map((z) => `${g}-${z}`))));
    expect(valueSetCodes('msu-grade')).toEqual(ours('grade-1', 'grade-2', 'grade-3'));
    expect(valueSetCodes('msu-zone')).toEqual(ours(...ZONES.map((zone) => `zone-${zone}`)));
    expect(valueSetCodes('herniation-side')).toEqual([...snomed('7771000', '24028007'), ...ours('central')]);
    expect(valueSetCodes('level-finding')).toEqual([...snomed('202708005'), ...ours('no-herniation')]);
    // DICOM PS3.16 CID 7604 "Intervertebral Disc", L1/L2 to L5/S1.
    expect(valueSetCodes('disc-level')).toEqual(snomed('80064006', '67459009', '62551000', '84020006', '715056000'));
    expect(valueSetCodes('level-assignment-method')).toEqual(
      ours('sagittal-cross-reference', 'counted-from-lowest-stack'),
    );
    expect(valueSetCodes('review-decision')).toEqual(ours('confirmed', 'edited', 'rejected'));
    expect(valueSetCodes('rejection-reason')).toEqual(
      ours('artefact', 'wrong-level', 'not-a-herniation', 'missed-herniation', 'other'),
    );
    expect(valueSetCodes('cds-card-kind')).toEqual(
      ours('cds-findings', 'cds-prior-mri', 'cds-patient-summary', 'cds-not-analyzed'),
    );
    expect(valueSetCodes('cds-override-reason')).toEqual(
      ours('already-reviewed', 'not-relevant', 'disagree-with-finding'),
    );
  });
});

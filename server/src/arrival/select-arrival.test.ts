import path from 'node:path';
import type { ImagingStudy, ImagingStudySeries } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { loadCdsCodes, triggerCodes } from '../cds-hooks/trigger-codes';
import { arrivalDecision } from './select-arrival';

// The rule as shipped (smart-config/cds-referral-codes.json): the same file the CDS services read.
const codes = triggerCodes(
  loadCdsCodes(path.join(import.meta.dirname, '../../../smart-config/cds-referral-codes.json')),
);
const isLumbarMri = (study: ImagingStudy): boolean => codes.isLumbarMri(study);

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const SNOMED = 'http://snomed.info/sct';
const CPT = 'http://www.ama-assn.org/go/cpt';

const series = (overrides: Partial<ImagingStudySeries> = {}): ImagingStudySeries => ({
  uid: '1.2.3.4.1',
  modality: { system: DCM, code: 'MR' },
  bodySite: { system: SNOMED, code: '122496007', display: 'Lumbar spine structure' },
  ...overrides,
});

/** A lumbar MRI as an EHR lists it, with partial overrides. */
const lumbarMri = (overrides: Partial<ImagingStudy> = {}): ImagingStudy => ({
  resourceType: 'ImagingStudy',
  id: 'mr1',
  status: 'available',
  identifier: [{ system: 'urn:dicom:uid', value: 'urn:oid:1.2.3.4' }],
  modality: [{ system: DCM, code: 'MR' }],
  subject: { reference: 'Patient/p1' },
  endpoint: [{ reference: 'Endpoint/dicomweb' }],
  procedureCode: [{ coding: [{ system: CPT, code: '72148' }] }],
  series: [series()],
  ...overrides,
});

describe('which arriving studies are queued', () => {
  it('when a lumbar MRI arrives with its images, then it is queued', () => {
    expect(arrivalDecision(lumbarMri(), isLumbarMri)).toEqual({ queue: true });
  });

  it('when only a series names the lumbar spine (no procedure code), then it is a lumbar MRI still', () => {
    expect(arrivalDecision(lumbarMri({ procedureCode: [] }), isLumbarMri)).toEqual({ queue: true });
  });

  it('when only the procedure is a lumbar MRI (series without body site), then it is queued', () => {
    const withoutSite = series();
    delete withoutSite.bodySite;
    expect(arrivalDecision(lumbarMri({ series: [withoutSite] }), isLumbarMri)).toEqual({ queue: true });
  });

  it('when the study is a CT, then it is skipped as not MR', () => {
    const ct = lumbarMri({
      modality: [{ system: DCM, code: 'CT' }],
      series: [series({ modality: { system: DCM, code: 'CT' } })],
    });
    expect(arrivalDecision(ct, isLumbarMri)).toEqual({ queue: false, reason: 'not-mr' });
  });

  it('when an MR study is of the brain, then it is skipped as not lumbar', () => {
    const brain = lumbarMri({
      procedureCode: [{ coding: [{ system: CPT, code: '70551' }] }],
      series: [series({ bodySite: { system: SNOMED, code: '12738006', display: 'Brain structure' } })],
    });
    expect(arrivalDecision(brain, isLumbarMri)).toEqual({ queue: false, reason: 'not-lumbar' });
  });

  it('when the images are not all there (registered), then it waits for the update to available', () => {
    expect(arrivalDecision(lumbarMri({ status: 'registered' }), isLumbarMri)).toEqual({
      queue: false,
      reason: 'not-available',
    });
    expect(arrivalDecision(lumbarMri({ status: 'unknown' }), isLumbarMri)).toEqual({ queue: true });
  });

  it('when the study was cancelled or entered in error, then it is never queued', () => {
    for (const status of ['cancelled', 'entered-in-error'] as const)
      expect(arrivalDecision(lumbarMri({ status }), isLumbarMri)).toEqual({ queue: false, reason: 'withdrawn' });
  });

  it('when the pipeline could not find the study (no Study Instance UID, no endpoint), then it is skipped', () => {
    expect(arrivalDecision(lumbarMri({ identifier: [{ system: 'urn:other', value: 'x' }] }), isLumbarMri)).toEqual({
      queue: false,
      reason: 'no-study-instance-uid',
    });
    expect(arrivalDecision(lumbarMri({ endpoint: [] }), isLumbarMri)).toEqual({ queue: false, reason: 'no-endpoint' });
  });
});

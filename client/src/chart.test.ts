import type { Bundle, ImagingStudy, Patient } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import {
  bundleToImagingStudies,
  fhirDateToDisplay,
  mrStudySummaries,
  patientToSummary,
  studyCountsLabel,
} from './chart';

function aStudy(overrides: Partial<ImagingStudy> = {}): ImagingStudy {
  return {
    resourceType: 'ImagingStudy',
    id: 'st1',
    status: 'available',
    subject: { reference: 'Patient/p1' },
    started: '2024-03-05T10:00:00Z',
    description: 'MRI lumbar spine without contrast',
    numberOfSeries: 2,
    numberOfInstances: 30,
    series: [
      {
        uid: '1.2.3.4',
        modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' },
        numberOfInstances: 15,
      },
    ],
    ...overrides,
  };
}

describe('patient banner', () => {
  it('when the patient has an official name and an MR identifier, then name, gender, birth date and MRN are shown', () => {
    const patient: Patient = {
      resourceType: 'Patient',
      name: [
        { use: 'old', family: 'Old' },
        { use: 'official', family: 'Doe', given: ['Jane', 'Q'] },
      ],
      gender: 'female',
      birthDate: '1970-01-02',
      identifier: [
        { system: 'urn:ssn', value: '999' },
        {
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
          value: 'MRN-42',
        },
      ],
    };
    expect(patientToSummary(patient)).toEqual({
      name: 'Doe, Jane Q',
      gender: 'Female',
      birthDate: '1970-01-02',
      mrn: 'MRN-42',
    });
  });

  it('when the patient has no MR identifier, then MRN is Unknown, not some other id', () => {
    const patient: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:ssn', value: '999' }] };
    expect(patientToSummary(patient)).toEqual({
      name: 'Unknown',
      gender: 'Unknown',
      birthDate: 'Unknown',
      mrn: 'Unknown',
    });
  });
});

describe('study list', () => {
  it('when studies come back, then only MR studies are listed, newest first, with counts', () => {
    const ct = aStudy({ id: 'ct', series: [{ uid: '9', modality: { code: 'CT' } }] });
    const older = aStudy({ id: 'old', started: '2020-01-01' });
    const newer = aStudy({
      id: 'new',
      started: '2024-06-01T08:00:00Z',
      description: undefined,
      procedureCode: [{ text: 'MRI L-spine' }],
    });
    const summaries = mrStudySummaries([ct, older, newer]);
    expect(summaries.map((study) => study.id)).toEqual(['new', 'old']);
    expect(summaries[0]).toMatchObject({
      date: '2024-06-01',
      description: 'MRI L-spine',
      seriesCount: 2,
      instanceCount: 30,
    });
  });

  it('when the study has no counts, then they are taken from its series', () => {
    const study = aStudy({ numberOfSeries: undefined, numberOfInstances: undefined });
    expect(mrStudySummaries([study])[0]).toMatchObject({ seriesCount: 1, instanceCount: 15 });
    expect(studyCountsLabel({ seriesCount: 1, instanceCount: 15 })).toBe('1 series · 15 images');
  });

  it('reads ImagingStudy resources out of one bundle or a list of pages', () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [{ resource: aStudy() }, { resource: { resourceType: 'OperationOutcome', issue: [] } }],
    };
    expect(bundleToImagingStudies(bundle)).toHaveLength(1);
    expect(bundleToImagingStudies([bundle, { resourceType: 'Bundle', type: 'searchset' }])).toHaveLength(1);
  });

  it('shows the recorded date without converting time zones', () => {
    expect(fhirDateToDisplay('2024-03-05T23:30:00-05:00')).toBe('2024-03-05');
    expect(fhirDateToDisplay(undefined)).toBe('Date unknown');
  });
});

/**
 * Another lumbar MRI for a seeded patient of the sandbox's mock EHR, as a modality and the RIS would add a follow-up:
 * a realistic synthetic study (as the seed generates them) for the same person, its images in the EHR's DICOMweb
 * store and its ImagingStudy — built as the seed builds them — in the EHR's FHIR store. For tests where a patient has
 * two studies.
 */
import type { ImagingStudy } from '@medplum/fhirtypes';
import { generateSyntheticStudy } from '../../models/synthetic';
import { buildImagingStudy, type StudyFacts } from '../../mock-ehr/src/seed/build-resources';
import { ENDPOINT_ID, syntheticPerson } from '../../mock-ehr/src/seed/seed';
import type { Sandbox } from './sandbox';

export interface AddedStudy {
  /** The new ImagingStudy's id. */
  imagingStudyId: string;
  /** FHIR dateTime of its acquisition. */
  started: string;
}

/**
 * Adds a lumbar MRI acquired on `studyDate` (YYYYMMDD) for the sandbox's seeded patient `patientIndex`, generated from
 * `seed` (the seed uses 1000 + the patient's index; pick another for different images).
 */
export async function addLumbarMri(
  sandbox: Sandbox,
  patientIndex: number,
  options: { seed: number; studyDate: string },
): Promise<AddedStudy> {
  const person = syntheticPerson(patientIndex);
  const study = generateSyntheticStudy({
    seed: options.seed,
    patientId: person.mrn,
    patientName: `${person.family}^${person.given}`,
    birthDate: person.birthDate.replaceAll('-', ''),
    sex: person.sex,
    studyDate: options.studyDate,
  });
  const stored = study.instances.map((instance) => sandbox.ehr.dicomStore.add(instance.part10));
  const seriesUids = [...new Set(stored.map((instance) => instance.seriesInstanceUid))];
  const started = `${options.studyDate.slice(0, 4)}-${options.studyDate.slice(4, 6)}-${options.studyDate.slice(6, 8)}T09:00:00Z`;
  const facts: StudyFacts = {
    id: `${person.id}-mr-lspine-${options.seed}`,
    patientId: person.id,
    endpointId: ENDPOINT_ID,
    studyInstanceUid: study.studyInstanceUid,
    started,
    description: study.studyDescription,
    accessionNumber: undefined,
    series: seriesUids.map((uid) => {
      const instances = stored
        .filter((instance) => instance.seriesInstanceUid === uid)
        .sort((a, b) => (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0));
      const generated = study.series.find((series) => series.seriesInstanceUid === uid);
      return {
        uid,
        number: generated?.seriesNumber,
        modality: 'MR',
        description: generated?.description ?? study.seriesDescription,
        instances: instances.map((instance) => ({
          uid: instance.sopInstanceUid,
          sopClassUid: instance.sopClassUid,
          number: instance.instanceNumber,
        })),
      };
    }),
  };
  const created = await sandbox.ehr.repo.createResource<ImagingStudy>(buildImagingStudy(facts));
  return { imagingStudyId: created.id, started };
}

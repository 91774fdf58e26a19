/**
 * Seeds the chart at start: synthetic patients, each with one lumbar MRI study from the generator it is given
 * (models/synthetic) whose Part 10 files go to the DICOMweb store and whose ImagingStudy points at the DICOMweb
 * Endpoint. The sandbox gives it `generateSyntheticStudy` (realistic axial and sagittal T2 with exact MSU ground
 * truth); tests may give it `generatePhantomStudy`, the simple phantom.
 */
import {
  findMissingEncoders,
  transcodeAll,
  type CommandLookup,
  type GeneratedStudy,
  type MissingEncoder,
  type PhantomStudyOptions,
  type TransferSyntaxName,
} from '../../../models/synthetic';
import type { DicomJsonDataset } from '../dicomweb/dcmjs';
import { firstNumber, firstString, TAG, type DicomStore, type StoredInstance } from '../dicomweb/dicom-store';
import type { FhirEngine } from '../fhir/fhir-engine';
import {
  buildDicomWebEndpoint,
  buildImagingStudy,
  buildPatient,
  buildPractitioner,
  buildPriorReport,
  type SyntheticPerson,
} from './build-resources';

export type StudyGenerator = (options: PhantomStudyOptions) => GeneratedStudy;

export const PRACTITIONER_ID = 'synthetic-clinician';
export const ENDPOINT_ID = 'dicomweb';

const PRIOR_CONCLUSIONS = [
  'Mild loss of disc height at L4-L5. No fracture or listhesis.',
  'Degenerative changes of the lower lumbar spine. Alignment preserved.',
  'Normal lumbar radiographs.',
];

/** NATO alphabet given names: obviously not people. */
const GIVEN_NAMES = ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo', 'Foxtrot', 'Golf', 'Hotel', 'India', 'Juliett'];

export interface SeededPatient {
  patientId: string;
  mrn: string;
  imagingStudyId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

export interface SeedResult {
  practitionerId: string;
  endpointId: string;
  patients: SeededPatient[];
}

export function syntheticPerson(index: number): SyntheticPerson {
  const number = String(index + 1).padStart(2, '0');
  const given = GIVEN_NAMES[index] ?? `Phantom${number}`;
  const year = 1950 + ((index * 7) % 45);
  const month = String((index % 12) + 1).padStart(2, '0');
  const day = String(((index * 5) % 27) + 1).padStart(2, '0');
  return {
    id: `synthetic-${number}`,
    mrn: `SYN-${String(1000 + index)}`,
    family: 'Synthetic',
    given,
    birthDate: `${year}-${month}-${day}`,
    sex: index % 2 === 0 ? 'F' : 'M',
  };
}

export async function seedChart(options: {
  engine: FhirEngine;
  store: DicomStore;
  dicomWebUrl: string;
  patientCount: number;
  generate: StudyGenerator;
  /** Patient i's study is stored in `transferSyntaxes[i % n]` (DCMTK/GDCM encoders); default as generated. */
  transferSyntaxes?: readonly TransferSyntaxName[];
  /** Told once per Debian package whose encoders are not installed; those syntaxes are skipped (studies as generated). */
  onEncoderMissing?: (missing: MissingEncoder) => void;
  /** Told when an installed encoder fails; that study stays as generated. */
  onTranscodeFailure?: (syntax: TransferSyntaxName, error: Error) => void;
  /** How encoders are found; default: on PATH. */
  isCommandInstalled?: CommandLookup;
}): Promise<SeedResult> {
  const { engine, store } = options;
  // Checked before the first study: a missing encoder is one message, not one failure per study that needs it.
  const skipped = new Set<TransferSyntaxName>();
  for (const missing of await findMissingEncoders(options.transferSyntaxes ?? [], options.isCommandInstalled)) {
    options.onEncoderMissing?.(missing);
    for (const syntax of missing.syntaxes) skipped.add(syntax);
  }
  await engine.create(buildPractitioner(PRACTITIONER_ID));
  await engine.create(buildDicomWebEndpoint(ENDPOINT_ID, options.dicomWebUrl));
  const patients: SeededPatient[] = [];
  for (let index = 0; index < options.patientCount; index++) {
    const syntax = options.transferSyntaxes?.[index % options.transferSyntaxes.length];
    patients.push(
      await seedPatient(
        {
          engine,
          store,
          generate: options.generate,
          ...(syntax !== undefined && !skipped.has(syntax) ? { transferSyntax: syntax } : {}),
          ...(options.onTranscodeFailure ? { onTranscodeFailure: options.onTranscodeFailure } : {}),
        },
        index,
      ),
    );
  }
  return { practitionerId: PRACTITIONER_ID, endpointId: ENDPOINT_ID, patients };
}

/**
 * Synthetic patient `index` (syntheticPerson) with one lumbar MRI: the study's Part 10 files go to the DICOM store
 * (transcoded when a syntax is given), then its Patient and ImagingStudy — pointing at the seeded DICOMweb Endpoint —
 * are created; every other patient also gets a prior report. The seed calls it for each patient; `admitPatient`
 * (app.ts) for a study that arrives later, as a modality and the RIS would add it.
 */
export async function seedPatient(
  context: {
    engine: FhirEngine;
    store: DicomStore;
    generate: StudyGenerator;
    transferSyntax?: TransferSyntaxName;
    onTranscodeFailure?: (syntax: TransferSyntaxName, error: Error) => void;
  },
  index: number,
): Promise<SeededPatient> {
  const { engine, store, transferSyntax: syntax } = context;
  const person = syntheticPerson(index);
  const study = context.generate({
    seed: 1000 + index,
    patientId: person.mrn,
    patientName: `${person.family}^${person.given}`,
    birthDate: person.birthDate.replaceAll('-', ''),
    sex: person.sex,
  });
  let files = study.instances.map((instance) => instance.part10);
  if (syntax !== undefined) {
    try {
      files = await transcodeAll(files, syntax);
    } catch (error) {
      context.onTranscodeFailure?.(syntax, error as Error);
    }
  }
  const stored = files.map((part10) => store.add(part10));
  await engine.create(buildPatient(person));
  const imagingStudyId = `${person.id}-mr-lspine`;
  await engine.create(buildImagingStudy(studyFacts(imagingStudyId, person.id, study, stored)));
  // Every other patient has a prior report, two years before the MRI (issue 6: "some prior reports").
  if (index % 2 === 0) {
    const mriYear = Number(study.studyDate.slice(0, 4));
    const issued = `${mriYear - 2}-${study.studyDate.slice(4, 6)}-${study.studyDate.slice(6, 8)}T10:00:00Z`;
    await engine.create(
      buildPriorReport(person.id, PRACTITIONER_ID, issued, PRIOR_CONCLUSIONS[index % PRIOR_CONCLUSIONS.length] ?? ''),
    );
  }
  return {
    patientId: person.id,
    mrn: person.mrn,
    imagingStudyId,
    studyInstanceUid: study.studyInstanceUid,
    seriesInstanceUid: study.seriesInstanceUid,
  };
}

function studyFacts(id: string, patientId: string, study: GeneratedStudy, stored: StoredInstance[]) {
  const first = stored[0]?.dataset ?? {};
  const bySeries = new Map<string, StoredInstance[]>();
  for (const instance of stored)
    bySeries.set(instance.seriesInstanceUid, [...(bySeries.get(instance.seriesInstanceUid) ?? []), instance]);
  return {
    id,
    patientId,
    endpointId: ENDPOINT_ID,
    studyInstanceUid: study.studyInstanceUid,
    started: dicomDateTimeToFhir(study.studyDate, firstString(first[TAG.StudyTime])),
    description: study.studyDescription,
    accessionNumber: firstString(first[TAG.AccessionNumber]),
    series: [...bySeries.entries()].map(([uid, instances]) => {
      const dataset: DicomJsonDataset = instances[0]?.dataset ?? {};
      return {
        uid,
        number: firstNumber(dataset[TAG.SeriesNumber]),
        modality: firstString(dataset[TAG.Modality]) ?? 'MR',
        description: firstString(dataset[TAG.SeriesDescription]) ?? study.seriesDescription,
        instances: [...instances]
          .sort((a, b) => (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0))
          .map((instance) => ({
            uid: instance.sopInstanceUid,
            sopClassUid: instance.sopClassUid,
            number: instance.instanceNumber,
          })),
      };
    }),
  };
}

/** DICOM DA (YYYYMMDD) + TM (HHMMSS) → FHIR dateTime; the generated studies carry no timezone, so we state UTC. */
export function dicomDateTimeToFhir(date: string, time: string | undefined): string {
  const day = `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}`;
  if (!time || time.length < 4) return day;
  const seconds = time.length >= 6 ? time.slice(4, 6) : '00';
  return `${day}T${time.slice(0, 2)}:${time.slice(2, 4)}:${seconds}Z`;
}

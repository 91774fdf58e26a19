/**
 * What the mock EHR seeds when it starts: the synthetic chart (seed.ts) in the built-in DICOM store, copied to the real
 * PACS with STOW-RS when one is configured (DICOMWEB_URL), so its `/dicom-web` proxy finds the same studies.
 */
import type { Logger } from 'pino';
import type { TransferSyntaxName } from '../../../models/synthetic';
import type { DicomStore } from '../dicomweb/dicom-store';
import { stowToUpstream } from '../dicomweb/upstream-router';
import type { FhirEngine } from '../fhir/fhir-engine';
import { seedChart, type SeedResult, type StudyGenerator } from './seed';

export interface SeedAtStartOptions {
  engine: FhirEngine;
  dicomStore: DicomStore;
  dicomWebUrl: string;
  patientCount: number;
  generate: StudyGenerator;
  transferSyntaxes?: readonly TransferSyntaxName[] | undefined;
  /** A real PACS's DICOMweb root; undefined: the built-in store only. */
  dicomWebUpstreamUrl?: string | undefined;
  logger: Logger;
}

export async function seedAtStart(options: SeedAtStartOptions): Promise<SeedResult> {
  const { logger } = options;
  const seed = await seedChart({
    engine: options.engine,
    store: options.dicomStore,
    dicomWebUrl: options.dicomWebUrl,
    patientCount: options.patientCount,
    generate: options.generate,
    ...(options.transferSyntaxes ? { transferSyntaxes: options.transferSyntaxes } : {}),
    onEncoderMissing: ({ debianPackage, commands, syntaxes }) => {
      logger.warn(
        { debianPackage, commands, syntaxes },
        `${commands.join(', ')} not found: studies meant for ${syntaxes.join(', ')} are seeded in explicit VR little endian instead (install with: apt-get install ${debianPackage})`,
      );
    },
    onTranscodeFailure: (syntax, error) => {
      // The encoder's words name files and UIDs: the log keeps the syntax and the error's class.
      logger.warn({ syntax, error: error.name }, 'seed study kept in explicit VR little endian: transcoding failed');
    },
  });
  if (options.dicomWebUpstreamUrl !== undefined)
    await copyStudiesToUpstream(options.dicomStore, options.dicomWebUpstreamUrl);
  return seed;
}

/** One STOW-RS request per study, in seeding order. */
async function copyStudiesToUpstream(store: DicomStore, upstreamUrl: string): Promise<void> {
  for (const study of store.listStudies()) {
    const parts = [...study.series.values()].flatMap((series) => [...series.instances.values()].map((i) => i.part10));
    await stowToUpstream(upstreamUrl, parts);
  }
}

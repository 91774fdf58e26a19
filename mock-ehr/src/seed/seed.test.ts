import { describe, expect, it } from 'vitest';
import { generatePhantomStudy, TRANSFER_SYNTAXES, type MissingEncoder } from '../../../models/synthetic';
import { DicomStore } from '../dicomweb/dicom-store';
import { FhirEngine } from '../fhir/fhir-engine';
import { seedChart } from './seed';

describe('seedChart', () => {
  it('when the JPEG 2000 encoder is missing, then it is reported once and those studies stay explicit VR LE', async () => {
    const store = new DicomStore();
    const missing: MissingEncoder[] = [];
    const failures: string[] = [];
    const looked: string[] = [];
    const seed = await seedChart({
      engine: new FhirEngine(),
      store,
      dicomWebUrl: 'http://127.0.0.1:1/dicom-web',
      patientCount: 2,
      generate: generatePhantomStudy,
      transferSyntaxes: ['jpeg2000'],
      isCommandInstalled: (command) => {
        looked.push(command);
        return Promise.resolve(command !== 'gdcmconv');
      },
      onEncoderMissing: (report) => missing.push(report),
      onTranscodeFailure: (syntax, error) => failures.push(`${syntax}: ${error.message}`),
    });

    expect(missing).toEqual([{ debianPackage: 'libgdcm-tools', commands: ['gdcmconv'], syntaxes: ['jpeg2000'] }]);
    expect(looked).toEqual(['gdcmconv']);
    expect(failures).toEqual([]);
    expect(seed.patients).toHaveLength(2);
    const syntaxes = new Set(
      store
        .listStudies()
        .flatMap((study) => [...study.series.values()].flatMap((series) => [...series.instances.values()]))
        .map((instance) => instance.transferSyntaxUid),
    );
    expect([...syntaxes]).toEqual([TRANSFER_SYNTAXES['explicit-le'].uid]);
  });
});

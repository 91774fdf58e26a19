/**
 * The AI result as a DICOM SR (IHE AIR): built from a generated study's findings — herniated levels with box and
 * intra-facet line, levels without herniation — once on single-frame slices and once on the same series as one
 * Enhanced MR instance (key slices are frames), then checked by dicom3tools (dciodvfy: the IOD), DCMTK (dsrdump:
 * the content tree) and read back with dcmjs. The tools come from test/ensure-system-deps.sh.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { data } from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { axialSeriesToEnhancedMr, enhancedMrUid, truthForEnhancedMr } from '../../../models/synthetic/enhanced-mr';
import { dciodvfy } from '../../../test/support/dicom-tools';
import { DISC_LEVELS, type Findings, type LevelFinding } from '../findings/findings';
import {
  COMPREHENSIVE_3D_SR_STORAGE,
  findingsToStructuredReport,
  type StructuredReport,
} from './build-structured-report';
import { structuredReportToFindings } from './read-structured-report';
import { srSourceFromDicomJson, type DicomJsonAttributes, type SrSource } from './sr-source';
import { StructuredReportError } from './structured-report-error';

const run = promisify(execFile);

const toArrayBuffer = (bytes: Uint8Array): ArrayBuffer =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
const attributesOf = (part10: Uint8Array): DicomJsonAttributes =>
  data.DicomMessage.readFile(toArrayBuffer(part10)).dict;
const naturalized = (part10: Uint8Array): Record<string, unknown> =>
  data.DicomMetaDictionary.naturalizeDataset(data.DicomMessage.readFile(toArrayBuffer(part10)).dict);

/** A generated study with two herniations; confidences and coordinates made fractional, as a detector's are. */
function studyFixture(): { study: ReturnType<typeof generatePhantomStudy>; findings: Findings } {
  const study = generatePhantomStudy({
    seed: 11,
    patientId: 'SR-11',
    herniations: { 'L4-L5': { grade: 2, zone: 'AB', side: 'left' }, 'L5-S1': { grade: 3, zone: 'A', side: 'central' } },
  });
  const findings = structuredClone(study.groundTruth);
  findings.model = { id: 'msu-ldh', version: '1.8.0' };
  findings.levels = findings.levels.map((level, index): LevelFinding => {
    const confidence = 0.61234567 + index * 0.0712;
    const shift = (value: number): number => value + 0.123;
    const intraFacetLine = level.intraFacetLine?.map(([x, y]) => [
      shift(x),
      shift(y),
    ]) as LevelFinding['intraFacetLine'];
    return level.herniation
      ? {
          ...level,
          confidence,
          box: level.box.map(shift) as typeof level.box,
          ...(intraFacetLine ? { intraFacetLine } : {}),
        }
      : { ...level, confidence, ...(intraFacetLine ? { intraFacetLine } : {}) };
  });
  return { study, findings };
}

interface Fixture {
  name: string;
  findings: Findings;
  source: SrSource;
}

function singleFrameFixture(): Fixture {
  const { study, findings } = studyFixture();
  return {
    name: 'single-frame slices',
    findings,
    source: srSourceFromDicomJson(study.instances.map((i) => attributesOf(i.part10))),
  };
}

function multiFrameFixture(): Fixture {
  const { study, findings } = studyFixture();
  // Instances run bottom-up, three slices per level (models/synthetic/phantom.ts).
  const bottomUp = [...DISC_LEVELS].reverse();
  const enhanced = axialSeriesToEnhancedMr(
    study.instances.map((instance) => instance.part10),
    study.instances.map((_, index) => bottomUp[Math.floor(index / 3)] ?? 'L1-L2'),
  );
  const truth = truthForEnhancedMr(
    findings,
    study.instances.map((instance) => instance.sopInstanceUid),
    enhancedMrUid(study.seriesInstanceUid),
  );
  return { name: 'one Enhanced MR instance', findings: truth, source: srSourceFromDicomJson([attributesOf(enhanced)]) };
}

const NOW = new Date('2025-03-01T10:20:30Z');
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ldh-sr-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each([singleFrameFixture(), multiFrameFixture()])('findingsToStructuredReport on $name', (fixture) => {
  let report: StructuredReport;
  let file = '';
  beforeAll(async () => {
    report = findingsToStructuredReport(fixture.findings, fixture.source, { manufacturer: 'ldh-cds', now: NOW });
    file = path.join(dir, `${fixture.name.replaceAll(' ', '-')}.dcm`);
    await writeFile(file, report.part10);
  });

  it('when validated by dciodvfy, then it reports no error', async () => {
    const output = await dciodvfy(file);
    console.log(`dciodvfy (${fixture.name}):\n${output}`);
    expect(output).toMatch(/Comprehensive3DSR/);
    expect(output.split('\n').filter((line) => line.startsWith('Error'))).toEqual([]);
  });

  it('when dumped by dsrdump, then it reads and shows one TID 1500 measurement group per level', async () => {
    // run() rejects unless the exit code is 0. +Pc: concept name codes too; +Pt: template ids; +Pl: all coordinates.
    const { stdout, stderr } = await run('dsrdump', ['+Pc', '+Pt', '+Pl', file]);
    expect(stderr).not.toMatch(/^[EW]:/m);
    expect(stdout).toMatch(/^Comprehensive 3D SR Document/);
    expect(stdout).toContain('<CONTAINER:(126000,DCM,"Imaging Measurement Report")=SEPARATE>  # TID 1500 (DCMR)');
    expect(stdout.match(/CONTAINER:\(125007,DCM,"Measurement Group"\)=SEPARATE> {2}# TID 1410/g)).toHaveLength(2);
    expect(stdout.match(/CONTAINER:\(125007,DCM,"Measurement Group"\)=SEPARATE> {2}# TID 1501/g)).toHaveLength(3);
    for (const level of fixture.findings.levels) {
      expect(stdout).toContain(`TEXT:(112039,DCM,"Tracking Identifier")="${level.level}"`);
      expect(stdout).toContain(`="${report.trackingUids[level.level] ?? 'no tracking UID'}"`);
      // A frame of a multi-frame image is named after the SOP class: "(MRe image,,5)".
      if (fixture.source.images.some((image) => (image.numberOfFrames ?? 1) > 1))
        expect(stdout).toContain(`image,,${level.keySlice?.frame ?? 'no key slice'})`);
    }
    expect(stdout.match(/SCOORD:\(111030,DCM,"Image Region"\)=\(POLYLINE(,[\d.]+\/[\d.]+){5}\)/g)).toHaveLength(2);
    expect(
      stdout.match(/SCOORD:\(intra-facet-line,99LDHCDS,"Intra-facet line"\)=\(POLYLINE(,[\d.]+\/[\d.]+){2}\)/g),
    ).toHaveLength(5);
  });

  it('when read back, then the levels equal the findings', () => {
    const readBack = structuredReportToFindings(report.part10);
    const rounded = (value: number): number => Math.round(value * 1000) / 1000;
    const expected = fixture.findings.levels.map((level): LevelFinding => {
      const intraFacetLine = level.intraFacetLine?.map(([x, y]) => [
        rounded(x),
        rounded(y),
      ]) as LevelFinding['intraFacetLine'];
      const confidence = Number(level.confidence.toFixed(4));
      return level.herniation
        ? {
            ...level,
            confidence,
            box: level.box.map(rounded) as typeof level.box,
            ...(intraFacetLine ? { intraFacetLine } : {}),
          }
        : { ...level, confidence, ...(intraFacetLine ? { intraFacetLine } : {}) };
    });
    expect(readBack.levels).toEqual(expected);
    expect(readBack.trackingUids).toEqual(report.trackingUids);
    expect(readBack.model).toEqual(fixture.findings.model);
    expect(readBack.studyInstanceUid).toBe(fixture.findings.studyInstanceUid);
    expect(readBack.sopInstanceUid).toBe(report.sopInstanceUid);
  });

  it('when its header is read, then it repeats the source patient and study in a new, unverified SR series', () => {
    const header = naturalized(report.part10);
    const { patient, study, images } = fixture.source;
    expect(header).toMatchObject({
      SOPClassUID: COMPREHENSIVE_3D_SR_STORAGE,
      SOPInstanceUID: report.sopInstanceUid,
      Modality: 'SR',
      SeriesInstanceUID: report.seriesInstanceUid,
      PatientName: [{ Alphabetic: patient.name }],
      PatientID: patient.id,
      PatientBirthDate: patient.birthDate,
      PatientSex: patient.sex,
      StudyInstanceUID: study.instanceUid,
      StudyDate: study.date,
      AccessionNumber: study.accessionNumber,
      CompletionFlag: 'COMPLETE',
      VerificationFlag: 'UNVERIFIED',
      PreliminaryFlag: 'PRELIMINARY',
      ContentDate: '20250301',
      ContentTime: '102030',
    });
    expect(images.map((image) => image.seriesInstanceUid)).not.toContain(report.seriesInstanceUid);
    const evidence = JSON.stringify(header.CurrentRequestedProcedureEvidenceSequence);
    for (const image of images) expect(evidence).toContain(image.sopInstanceUid);
    expect(JSON.stringify(header.CodingSchemeIdentificationSequence)).toContain(
      'https://ldh-cds.org/fhir/CodeSystem/ldh-cds',
    );
  });
});

describe('findingsToStructuredReport on inconsistent input', () => {
  const { findings, source } = singleFrameFixture();

  it('when a key slice is not among the source images, then it throws naming the level', () => {
    const withoutKeySlices: SrSource = {
      ...source,
      images: source.images.filter(
        (image) => !findings.levels.some((l) => l.keySlice?.sopInstanceUid === image.sopInstanceUid),
      ),
    };
    expect(() => findingsToStructuredReport(findings, withoutKeySlices, { manufacturer: 'ldh-cds' })).toThrow(
      new StructuredReportError(
        `the key slice of L1-L2 (SOP Instance UID ${findings.levels[0]?.keySlice?.sopInstanceUid ?? ''}) is not one of the source images`,
      ),
    );
  });

  it('when the findings are of another study, then it throws naming both', () => {
    expect(() =>
      findingsToStructuredReport({ ...findings, studyInstanceUid: '2.25.1' }, source, { manufacturer: 'ldh-cds' }),
    ).toThrow(/the findings are of study 2\.25\.1, the source metadata of study /);
  });

  it('when two analyses of one model are reported, then they share the Device Observer UID and nothing else', () => {
    const deviceUid = (part10: Uint8Array): unknown =>
      (naturalized(part10).ContentSequence as Record<string, unknown>[]).find(
        (item) => (item.ConceptNameCodeSequence as { CodeValue: string }[])[0]?.CodeValue === '121012',
      )?.UID;
    const a = findingsToStructuredReport(findings, source, { manufacturer: 'ldh-cds' });
    const b = findingsToStructuredReport(findings, source, { manufacturer: 'ldh-cds' });
    expect(deviceUid(a.part10)).toMatch(/^2\.25\.\d+$/);
    expect(deviceUid(a.part10)).toBe(deviceUid(b.part10));
    expect(b.sopInstanceUid).not.toBe(a.sopInstanceUid);
    expect(b.seriesInstanceUid).not.toBe(a.seriesInstanceUid);
    expect(b.trackingUids['L4-L5']).not.toBe(a.trackingUids['L4-L5']);
  });

  it('when only some levels were assessed, then the report is PARTIAL and says how many', () => {
    const { part10 } = findingsToStructuredReport({ ...findings, levels: findings.levels.slice(0, 3) }, source, {
      manufacturer: 'ldh-cds',
    });
    expect(naturalized(part10)).toMatchObject({
      CompletionFlag: 'PARTIAL',
      CompletionFlagDescription: 'Preliminary AI result; 3 of 5 lumbar disc levels assessed',
    });
  });
});

describe('srSourceFromDicomJson', () => {
  it('when given WADO-RS style metadata, then it takes patient and study from the first instance and frames from each', () => {
    const instance = (sop: string, frames?: number): DicomJsonAttributes => ({
      '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.4.1'] },
      '00080018': { vr: 'UI', Value: [sop] },
      '0020000D': { vr: 'UI', Value: ['2.25.10'] },
      '0020000E': { vr: 'UI', Value: ['2.25.20'] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^Jane' }] },
      '00100020': { vr: 'LO', Value: ['P1'] },
      '00080090': { vr: 'PN' },
      ...(frames ? { '00280008': { vr: 'IS', Value: [frames] } } : {}),
    });
    const source = srSourceFromDicomJson([instance('2.25.1', 30), instance('2.25.2')]);
    expect(source.patient).toEqual({ name: 'Doe^Jane', id: 'P1', birthDate: '', sex: '' });
    expect(source.study).toMatchObject({ instanceUid: '2.25.10', referringPhysicianName: '' });
    expect(source.images).toEqual([
      {
        sopClassUid: '1.2.840.10008.5.1.4.1.1.4.1',
        sopInstanceUid: '2.25.1',
        seriesInstanceUid: '2.25.20',
        numberOfFrames: 30,
      },
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.4.1', sopInstanceUid: '2.25.2', seriesInstanceUid: '2.25.20' },
    ]);
  });

  it('when an instance has no SOP Instance UID, then it throws naming the attribute', () => {
    expect(() => srSourceFromDicomJson([{ '0020000D': { vr: 'UI', Value: ['2.25.10'] } }])).toThrow(
      /no SOPClassUID \(0008,0016\)/,
    );
  });
});

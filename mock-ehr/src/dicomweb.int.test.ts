import { api } from 'dicomweb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../models/synthetic';
import type { MockEhr } from './app';
import { launchAndGetToken, startTestEhr } from './test-support';

let ehr: MockEhr;
let cleanup: () => Promise<void>;
let token: string;

beforeAll(async () => {
  globalThis.XMLHttpRequest = (await import('xhr2')).default;
  ({ ehr, cleanup } = await startTestEhr(1));
  token = (await launchAndGetToken(ehr, ehr.seed.patients[0]?.patientId ?? '')).access_token;
});
afterAll(async () => {
  await cleanup();
});

function seeded() {
  const patient = ehr.seed.patients[0];
  if (!patient) throw new Error('no seeded patient');
  return patient;
}

function client(bearer: string) {
  return new api.DICOMwebClient({
    url: ehr.dicomWebUrl,
    headers: { Authorization: `Bearer ${bearer}` },
    verbose: false,
    singlepart: false,
  });
}

/** dicomweb-client's typings declare plain return values; at runtime every call returns a promise. */
function settle<T>(value: unknown): Promise<T> {
  return value as Promise<T>;
}

type DicomJson = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;

describe('DICOMweb with dicomweb-client 0.11.3', () => {
  it('when the app searches series with the bearer token, then it finds the seeded axial and sagittal MR series', async () => {
    const series = await (client(token).searchForSeries({
      studyInstanceUID: seeded().studyInstanceUid,
    }) as unknown as Promise<DicomJson[]>);
    expect(series).toHaveLength(2);
    expect(series.map((s) => s['0020000E']?.Value?.[0])).toContain(seeded().seriesInstanceUid);
    expect(series.map((s) => s['00080060']?.Value?.[0])).toEqual(['MR', 'MR']);
  });

  it('when the app retrieves series metadata, then every instance is there with Pixel Data as a BulkDataURI', async () => {
    const metadata = await settle<DicomJson[]>(
      client(token).retrieveSeriesMetadata({
        studyInstanceUID: seeded().studyInstanceUid,
        seriesInstanceUID: seeded().seriesInstanceUid,
        request: {},
      }),
    );
    expect(metadata.length).toBeGreaterThan(1);
    const first = metadata[0] ?? {};
    expect(first['00280010']?.Value?.[0]).toBeGreaterThan(0);
    expect(first['7FE00010']?.BulkDataURI).toContain('/bulkdata/7FE00010');
    expect(first['7FE00010']?.Value).toBeUndefined();
  });

  it('when the app retrieves a frame, then it gets Rows×Columns×2 raw little-endian bytes', async () => {
    const metadata = await settle<DicomJson[]>(
      client(token).retrieveSeriesMetadata({
        studyInstanceUID: seeded().studyInstanceUid,
        seriesInstanceUID: seeded().seriesInstanceUid,
        request: {},
      }),
    );
    const first = metadata[0] ?? {};
    const sopInstanceUID = String(first['00080018']?.Value?.[0]);
    const rows = Number(first['00280010']?.Value?.[0]);
    const columns = Number(first['00280011']?.Value?.[0]);
    const frames = await settle<ArrayBuffer[]>(
      client(token).retrieveInstanceFrames({
        studyInstanceUID: seeded().studyInstanceUid,
        seriesInstanceUID: seeded().seriesInstanceUid,
        sopInstanceUID,
        frameNumbers: '1',
        request: {},
      }),
    );
    expect(frames).toHaveLength(1);
    expect(frames[0]?.byteLength).toBe(rows * columns * 2);
    const pixels = new Uint16Array(frames[0] ?? new ArrayBuffer(0));
    expect(Math.max(...pixels)).toBeGreaterThan(0);
  });

  it('when the app asks for frames with transfer-syntax=*, then they come back as stored', async () => {
    const instance = await (client(token).searchForInstances({
      studyInstanceUID: seeded().studyInstanceUid,
      seriesInstanceUID: seeded().seriesInstanceUid,
    }) as unknown as Promise<DicomJson[]>);
    const sop = String(instance[0]?.['00080018']?.Value?.[0]);
    const response = await fetch(
      `${ehr.dicomWebUrl}/studies/${seeded().studyInstanceUid}/series/${seeded().seriesInstanceUid}/instances/${sop}/frames/1`,
      {
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        },
      },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('transfer-syntax=1.2.840.10008.1.2.1');
  });

  it('when the app retrieves an instance, then it is a multipart application/dicom Part 10 file', async () => {
    const instances = await (client(token).searchForInstances({
      studyInstanceUID: seeded().studyInstanceUid,
      seriesInstanceUID: seeded().seriesInstanceUid,
    }) as unknown as Promise<DicomJson[]>);
    const dicomweb = client(token);
    const options = {
      studyInstanceUID: seeded().studyInstanceUid,
      seriesInstanceUID: seeded().seriesInstanceUid,
      sopInstanceUID: String(instances[0]?.['00080018']?.Value?.[0]),
    };
    // The typings demand mediaTypes and request; at runtime both are optional (default application/dicom).
    const instance = await settle<ArrayBuffer>(
      dicomweb.retrieveInstance(options as unknown as Parameters<typeof dicomweb.retrieveInstance>[0]),
    );
    expect(Buffer.from(instance).subarray(128, 132).toString('ascii')).toBe('DICM');
  });

  it('when DICOMweb is called without a token, then it is 401', async () => {
    const response = await fetch(`${ehr.dicomWebUrl}/studies`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('when QIDO names an attribute it cannot match, then it is 400 naming the attribute', async () => {
    const response = await fetch(`${ehr.dicomWebUrl}/studies?Bogus=1`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Bogus');
  });
});

function multipart(parts: Uint8Array[]): { body: Buffer; contentType: string } {
  const boundary = 'stow-test-boundary';
  const chunks = parts.flatMap((part) => [
    Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
    Buffer.from(part),
    Buffer.from('\r\n'),
  ]);
  return {
    body: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

async function stow(bearer: string, parts: Uint8Array[], path = '/studies'): Promise<Response> {
  const { body, contentType } = multipart(parts);
  return fetch(`${ehr.dicomWebUrl}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': contentType, Accept: 'application/dicom+json' },
    body: new Uint8Array(body),
  });
}

describe('STOW-RS and rendered', () => {
  const phantomFor = (mrn: string, seed: number) =>
    generatePhantomStudy({ seed, patientId: mrn, patientName: 'Synthetic^Stow', birthDate: '19700101', sex: 'F' });

  it('when the app stores a new study of its patient, then it is 200 with ReferencedSOPSequence and QIDO finds it', async () => {
    const study = phantomFor(seeded().mrn, 4242);
    const parts = study.instances.slice(0, 2).map((instance) => instance.part10);
    const response = await stow(token, parts);
    expect(response.status).toBe(200);
    const body = (await response.json()) as DicomJson;
    expect(body['00081199']?.Value).toHaveLength(2);
    expect(body['00081198']).toBeUndefined();
    const found = (await (
      await fetch(`${ehr.dicomWebUrl}/studies?StudyInstanceUID=${study.studyInstanceUid}`, {
        headers: { Authorization: `Bearer ${token}` },
      })
    ).json()) as DicomJson[];
    expect(found).toHaveLength(1);
  });

  it('when a part belongs to another patient, then it fails with reason 0124 and the status is 409', async () => {
    const response = await stow(token, [phantomFor('SYN-NOT-MINE', 77).instances[0]?.part10 ?? new Uint8Array()]);
    expect(response.status).toBe(409);
    const body = (await response.json()) as DicomJson;
    expect(JSON.stringify(body['00081198'])).toContain('"Value":[292]');
  });

  it('when the instance does not belong to the study in the URL, then it fails with A900', async () => {
    const part = phantomFor(seeded().mrn, 99).instances[0]?.part10 ?? new Uint8Array();
    const response = await stow(token, [part], `/studies/${seeded().studyInstanceUid}`);
    expect(response.status).toBe(409);
    expect(JSON.stringify(await response.json())).toContain('"Value":[43264]');
  });

  it('when the token cannot create, then STOW is forbidden', async () => {
    const readOnly = (await launchAndGetToken(ehr, seeded().patientId, 'launch patient/ImagingStudy.rs')).access_token;
    const response = await stow(readOnly, [phantomFor(seeded().mrn, 5).instances[0]?.part10 ?? new Uint8Array()]);
    expect(response.status).toBe(403);
  });

  it('when a rendered frame is asked for, then it is a PNG of Rows×Columns; JPEG only is 406', async () => {
    const instances = (await (
      await fetch(
        `${ehr.dicomWebUrl}/studies/${seeded().studyInstanceUid}/series/${seeded().seriesInstanceUid}/instances`,
        {
          headers: { Authorization: `Bearer ${token}` },
        },
      )
    ).json()) as DicomJson[];
    const first = instances[0] ?? {};
    const sop = String(first['00080018']?.Value?.[0]);
    const url = `${ehr.dicomWebUrl}/studies/${seeded().studyInstanceUid}/series/${seeded().seriesInstanceUid}/instances/${sop}/frames/1/rendered`;
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: 'image/png' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await response.arrayBuffer());
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(Number(first['00280011']?.Value?.[0]));
    expect(png.readUInt32BE(20)).toBe(Number(first['00280010']?.Value?.[0]));
    const jpeg = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: 'image/jpeg' } });
    expect(jpeg.status).toBe(406);
  });
});

describe('seeded transfer syntaxes', () => {
  it('when the seed asks for RLE, then frames come back as stored RLE and the application/octet-stream ask is 406', async () => {
    const rle = await startTestEhr(1, { transferSyntaxes: ['rle'] });
    try {
      const patient = rle.ehr.seed.patients[0];
      const bearer = (await launchAndGetToken(rle.ehr, patient?.patientId ?? '')).access_token;
      const series = `${rle.ehr.dicomWebUrl}/studies/${patient?.studyInstanceUid}/series/${patient?.seriesInstanceUid}`;
      const instances = (await (
        await fetch(`${series}/instances`, { headers: { Authorization: `Bearer ${bearer}` } })
      ).json()) as DicomJson[];
      const frameUrl = `${series}/instances/${String(instances[0]?.['00080018']?.Value?.[0])}/frames/1`;
      const asStored = await fetch(frameUrl, {
        headers: {
          Authorization: `Bearer ${bearer}`,
          Accept: 'multipart/related; type="image/x-dicom-rle"; transfer-syntax=*',
        },
      });
      expect(asStored.status).toBe(200);
      expect(asStored.headers.get('content-type')).toContain('transfer-syntax=1.2.840.10008.1.2.5');
      const decoded = await fetch(frameUrl, {
        headers: { Authorization: `Bearer ${bearer}`, Accept: 'multipart/related; type="application/octet-stream"' },
      });
      expect(decoded.status).toBe(406);
    } finally {
      await rle.cleanup();
    }
  });
});

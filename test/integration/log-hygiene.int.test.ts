/**
 * What the logs say about a day's work: the real mock EHR and app server, both logging at `trace` into memory, go
 * through an analysis end to end — a launch, the stored analysis asked for before there is one, Analyze, the viewer's
 * stacks and frames, order entry with its CDS Hooks call — and through the ways it fails: another patient's study,
 * a forged token, an instance that is not in the series, an expired session at the PACS, a PACS that does not answer
 * in time, a FHIR server that is down, a CDS call without a JWT. Then every log line is searched for what must never
 * be in one (docs/security.md §Logs): the seeded patients' names, MRNs and birth dates, every Study, Series and SOP
 * Instance UID of the seeded studies, and the access token. Each refusal's line carries an error code and the request
 * id the client was given (the `X-Request-Id` header, repeated in the OperationOutcome).
 */
import { Writable } from 'node:stream';
import type { OperationOutcome } from 'fhir/r4';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { syntheticPerson } from '../../mock-ehr/src/seed/seed';
import type { StudyStacks } from '../../server/src/findings/viewer';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

const PATIENTS = 2;
/** The PACS answers later than the app waits for it, when the test asks it to. */
const DICOMWEB_TIMEOUT_MS = 3000;

const lines: string[] = [];
const memory = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});

let sandbox: Sandbox;
let token = '';
/** What each refused or failed request was answered: its status, X-Request-Id and OperationOutcome. */
const refusals: { what: string; status: number; requestId: string | null; outcome: OperationOutcome }[] = [];

async function call(what: string, url: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, init);
  if (response.status >= 400) {
    refusals.push({
      what,
      status: response.status,
      requestId: response.headers.get('x-request-id'),
      outcome: (await response.json()) as OperationOutcome,
    });
  }
  return response;
}

function apiHeaders(bearer: string): Record<string, string> {
  return {
    Authorization: `Bearer ${bearer}`,
    'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
    'Content-Type': 'application/json',
  };
}

/** The literal `value`, not as part of a longer number or UID. */
function pattern(value: string): RegExp {
  return new RegExp(`(?<![0-9.])${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![0-9])`);
}

beforeAll(async () => {
  sandbox = await startSandbox({
    patientCount: PATIENTS,
    generateStudy: generatePhantomStudy,
    cdsClients: 'ehr',
    appEnv: {
      MODEL_DIR: TINY_MODEL_DIR,
      SR_STOW: 'true',
      DICOMWEB_TIMEOUT_MS: String(DICOMWEB_TIMEOUT_MS),
      DICOMWEB_RETRIES: '0',
    },
    logger: pino({ level: 'trace' }, memory),
  });
  const [first, second] = [seededPatient(sandbox, 0), seededPatient(sandbox, 1)];
  token = await appTokenFor(sandbox, first.patientId);
  const app = sandbox.app.url;
  const study = `ImagingStudy/${first.imagingStudyId}`;

  // The stored analysis, before there is one: 404.
  await call('no stored analysis yet', `${app}/api/analyses?imagingStudy=${study}`, { headers: apiHeaders(token) });
  const analyzed = await call('analyze', `${app}/api/analyses`, {
    method: 'POST',
    // Answered when the analysis is done (RFC 7240 Prefer: wait), as before analyses became jobs.
    headers: { ...apiHeaders(token), Prefer: 'wait=600' },
    body: JSON.stringify({ imagingStudy: study }),
  });
  expect(analyzed.status).toBe(201);
  const stacks = (await (
    await call('stacks', `${app}/api/stacks?imagingStudy=${study}`, { headers: apiHeaders(token) })
  ).json()) as StudyStacks;
  const slices = stacks.levels.flatMap((level) => level.slices);
  const frameUrl = (sopInstanceUid: string, frame: number) =>
    `${app}/api/frames?imagingStudy=${study}&series=${stacks.seriesInstanceUid}&instance=${sopInstanceUid}&frame=${frame}`;
  const [firstSlice, secondSlice, thirdSlice] = slices;
  if (!firstSlice || !secondSlice || !thirdSlice) throw new Error('the phantom study has fewer than 3 axial slices');
  expect(
    (await call('frame', frameUrl(firstSlice.sopInstanceUid, firstSlice.frame), { headers: apiHeaders(token) })).status,
  ).toBe(200);

  // Order entry in the chart: the EHR calls the app's order-select service with its JWT; the card is built.
  const order = await fetch(`${sandbox.ehr.url}/chart/${first.patientId}/orders`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ code: '308481009', reason: 'Low back pain' }),
    redirect: 'manual',
  });
  expect(order.status).toBe(303);

  // Refusals: another patient's study with this patient's token; a forged token; an instance not in the series
  // (another patient's, by its real UID); a CDS call without a JWT.
  await call('another patient', `${app}/api/analyses`, {
    method: 'POST',
    headers: { ...apiHeaders(token), Prefer: 'wait=600' },
    body: JSON.stringify({ imagingStudy: `ImagingStudy/${second.imagingStudyId}` }),
  });
  await call('forged token', `${app}/api/analyses?imagingStudy=${study}`, { headers: apiHeaders(`${token}x`) });
  const otherInstance = sandbox.ehr.dicomStore
    .listStudies()
    .find((stored) => stored.studyInstanceUid === second.studyInstanceUid)
    ?.series.get(second.seriesInstanceUid)
    ?.instances.keys()
    .next().value;
  await call('instance of another series', frameUrl(otherInstance ?? '1.2.3', 1), { headers: apiHeaders(token) });
  await call('CDS call without a JWT', `${app}/cds-services/ldh-cds-order-select`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ hook: 'order-select', hookInstance: 'x', context: { patientId: first.patientId } }),
  });

  // Failures upstream: the session expired at the PACS; the PACS too slow; the FHIR server down.
  sandbox.ehr.faults.expiredToken = true;
  await call('expired at the PACS', frameUrl(secondSlice.sopInstanceUid, secondSlice.frame), {
    headers: apiHeaders(token),
  });
  sandbox.ehr.faults.expiredToken = false;
  sandbox.ehr.faults.dicomWebDelayMs = DICOMWEB_TIMEOUT_MS + 1000;
  await call('PACS timed out', frameUrl(thirdSlice.sopInstanceUid, thirdSlice.frame), { headers: apiHeaders(token) });
  sandbox.ehr.faults.dicomWebDelayMs = 0;
  sandbox.ehr.faults.fhirUnavailable = true;
  await call('FHIR down', `${app}/api/analyses`, {
    method: 'POST',
    headers: { ...apiHeaders(token), Prefer: 'wait=600' },
    body: JSON.stringify({ imagingStudy: study }),
  });
  sandbox.ehr.faults.fhirUnavailable = false;
}, 180_000);

afterAll(async () => {
  await sandbox.close();
});

describe('log hygiene', () => {
  it('when the day is done, then the requests were refused and failed as the test meant them to', () => {
    expect(refusals.map(({ what, status }) => `${what} ${status}`)).toEqual([
      'no stored analysis yet 404',
      'another patient 403',
      'forged token 401',
      'instance of another series 404',
      'CDS call without a JWT 401',
      'expired at the PACS 401',
      'PACS timed out 502',
      'FHIR down 502',
    ]);
  });

  it('when every log line is searched, then no name, MRN, birth date, DICOM UID or token is in any', () => {
    const forbidden = new Map<string, RegExp>();
    for (let index = 0; index < PATIENTS; index++) {
      const person = syntheticPerson(index);
      const seeded = seededPatient(sandbox, index);
      expect(seeded.mrn).toBe(person.mrn);
      forbidden.set(`name ${person.given}`, new RegExp(`\\b${person.given}\\b`));
      forbidden.set(`name ${person.family}`, new RegExp(`\\b${person.family}\\b`));
      forbidden.set(`MRN ${person.mrn}`, pattern(person.mrn));
      forbidden.set(`birth date ${person.birthDate}`, pattern(person.birthDate));
      const compact = person.birthDate.replaceAll('-', '');
      forbidden.set(`birth date ${compact}`, pattern(compact));
    }
    for (const study of sandbox.ehr.dicomStore.listStudies()) {
      forbidden.set(`Study Instance UID ${study.studyInstanceUid}`, pattern(study.studyInstanceUid));
      for (const series of study.series.values()) {
        forbidden.set(`Series Instance UID ${series.seriesInstanceUid}`, pattern(series.seriesInstanceUid));
        for (const sop of series.instances.keys()) forbidden.set(`SOP Instance UID ${sop}`, pattern(sop));
      }
    }
    forbidden.set('the access token', new RegExp(token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    forbidden.set("the access token's signature", new RegExp(token.split('.').at(-1) ?? token));
    expect(lines.length).toBeGreaterThan(50);

    const found = lines.flatMap((line) =>
      [...forbidden].filter(([, regexp]) => regexp.test(line)).map(([what]) => `${what} in ${line.slice(0, 300)}`),
    );
    expect(found).toEqual([]);
  });

  it('when a request is refused or fails, then its log line has an error code and the id the client was given', () => {
    for (const refusal of refusals) {
      expect(refusal.requestId, refusal.what).toMatch(/^[0-9a-f-]{36}$/);
      const reference = refusal.outcome.issue.find((issue) => issue.diagnostics?.startsWith('Reference: '));
      expect(reference?.diagnostics, refusal.what).toBe(`Reference: ${refusal.requestId}`);
      const logged = lines
        .map((line) => JSON.parse(line) as { req?: { id?: string }; code?: string; status?: number; msg?: string })
        .filter((entry) => entry.req?.id === refusal.requestId && entry.code !== undefined);
      expect(logged, refusal.what).toHaveLength(1);
      expect(logged[0]?.status, refusal.what).toBe(refusal.status);
    }
  });
});

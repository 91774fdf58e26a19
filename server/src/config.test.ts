import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig, tokenSettingsFor } from './config';
import { backendRegistrationFor } from './http/backend-services';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ldh-cds-config-'));
/** An EHRS_FILE with this content (a string is written as is). */
function ehrsFile(name: string, content: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('loadConfig', () => {
  it('when the environment is empty, then every documented default applies', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      APP_PORT: 3000,
      APP_HOST: '127.0.0.1',
      EHRS_FILE: 'smart-config/ehrs.json',
      FHIR_BASE_URLS: ['http://localhost:4000/fhir'],
      EHRS: [{ fhirBaseUrl: 'http://localhost:4000/fhir', imagingOrigins: ['http://localhost:4000'] }],
      LOG_LEVEL: 'info',
      INFERENCE_EP: 'auto',
      INFERENCE_BATCH: 16,
      DICOMWEB_RETRIES: 3,
    });
    // EHRS is what EHRS_FILE and FHIR_BASE_URLS name together, not a variable of its own.
    expect(Object.keys(config).sort()).toEqual([...CONFIG_KEYS.map((k) => k.key), 'EHRS'].sort());
  });

  it('when FHIR_BASE_URLS lists several servers, then they are split and trailing slashes dropped', () => {
    expect(loadConfig({ FHIR_BASE_URLS: 'http://a/fhir/, https://b/r4' }).FHIR_BASE_URLS).toEqual([
      'http://a/fhir',
      'https://b/r4',
    ]);
  });

  it('when FHIR_BASE_URLS alone is set, then those are the only EHRs, each with its imaging on its own origin', () => {
    expect(loadConfig({ FHIR_BASE_URLS: 'http://a:8080/fhir,https://b/r4' }).EHRS).toEqual([
      { fhirBaseUrl: 'http://a:8080/fhir', imagingOrigins: ['http://a:8080'] },
      { fhirBaseUrl: 'https://b/r4', imagingOrigins: ['https://b'] },
    ]);
  });

  it('when EHRS_FILE pairs a FHIR base with a PACS elsewhere, then that origin is its only imaging origin', () => {
    const file = ehrsFile('paired.json', {
      ehrs: [
        {
          name: 'SMART launcher + local Orthanc',
          fhirBaseUrl: 'https://launch.smarthealthit.org/v/r4/fhir/',
          imagingOrigins: ['http://localhost:8042/'],
        },
      ],
    });
    const config = loadConfig({ EHRS_FILE: file, FHIR_BASE_URLS: 'http://a/fhir' });
    expect(config.EHRS).toEqual([
      { fhirBaseUrl: 'https://launch.smarthealthit.org/v/r4/fhir', imagingOrigins: ['http://localhost:8042'] },
      { fhirBaseUrl: 'http://a/fhir', imagingOrigins: ['http://a'] },
    ]);
    expect(config.FHIR_BASE_URLS).toEqual(['https://launch.smarthealthit.org/v/r4/fhir', 'http://a/fhir']);
  });

  it('when EHRS_FILE is bad, then the error names the file and the entry', () => {
    const bad = (name: string, content: unknown) => () => loadConfig({ EHRS_FILE: ehrsFile(name, content) });
    expect(
      bad('path.json', { ehrs: [{ fhirBaseUrl: 'http://a/fhir', imagingOrigins: ['http://pacs/dicom-web'] }] }),
    ).toThrow(/EHRS_FILE .*path\.json: ehrs\[0\]\.imagingOrigins\[0\]: must be an origin/);
    expect(bad('typo.json', { ehrs: [{ fhirBaseUrl: 'http://a/fhir', imagingOrigin: ['http://pacs'] }] })).toThrow(
      /ehrs\[0\]/,
    );
    expect(bad('ftp.json', { ehrs: [{ fhirBaseUrl: 'ftp://a/fhir', imagingOrigins: [] }] })).toThrow(
      /ehrs\[0\]\.fhirBaseUrl/,
    );
    expect(
      bad('twice.json', {
        ehrs: [
          { fhirBaseUrl: 'http://a/fhir', imagingOrigins: [] },
          { fhirBaseUrl: 'http://a/fhir/', imagingOrigins: ['http://b'] },
        ],
      }),
    ).toThrow(/ehrs\[1\]\.fhirBaseUrl: http:\/\/a\/fhir is listed twice/);
    expect(bad('empty.json', { ehrs: [] })).toThrow(/EHRS_FILE .*empty\.json: ehrs: lists no EHR/);
    expect(bad('broken.json', '{ "ehrs": [')).toThrow(/EHRS_FILE .*broken\.json: cannot be read/);
    expect(() => loadConfig({ EHRS_FILE: path.join(dir, 'missing.json') })).toThrow(
      /missing\.json: cannot be read \(no such file\)/,
    );
  });

  it('when an EHRS_FILE entry says how ldh-cds is registered at that EHR, then that EHR uses it and the others the defaults', () => {
    // Before: the file's entries took no such keys ("Unrecognized key"), though the README told sites to set them.
    const file = ehrsFile('registrations.json', {
      ehrs: [
        {
          fhirBaseUrl: 'https://ehr-a.example/fhir',
          imagingOrigins: ['https://pacs-a.example'],
          tokenVerification: 'jwks',
          introspectionAuth: 'user-token',
          introspectionClientId: 'ldh-cds-at-a',
          backendClientId: 'ldh-cds-workers-at-a',
          backendScopes: ' system/ImagingStudy.rs system/DiagnosticReport.crus ',
        },
        { fhirBaseUrl: 'https://ehr-b.example/fhir', imagingOrigins: [] },
      ],
    });
    const config = loadConfig({ EHRS_FILE: file, BACKEND_CLIENT_ID: 'ldh-cds-server' });
    expect(tokenSettingsFor(config, 'https://ehr-a.example/fhir/')).toEqual({
      method: 'jwks',
      introspectionAuth: 'user-token',
      introspectionClientId: 'ldh-cds-at-a',
    });
    expect(tokenSettingsFor(config, 'https://ehr-b.example/fhir')).toEqual({
      method: 'introspection',
      introspectionAuth: 'private_key_jwt',
      introspectionClientId: 'ldh-cds-server',
    });
    expect(backendRegistrationFor(config, 'https://ehr-a.example/fhir')).toEqual({
      clientId: 'ldh-cds-workers-at-a',
      scope: 'system/ImagingStudy.rs system/DiagnosticReport.crus',
    });
    expect(backendRegistrationFor(config, 'https://ehr-b.example/fhir')).toEqual({
      clientId: 'ldh-cds-server',
      scope: config.BACKEND_SCOPES,
    });
  });

  it('when an EHRS_FILE entry’s registration is wrong, then the error names the entry and the key', () => {
    const entry = (more: Record<string, unknown>) => ({
      ehrs: [{ fhirBaseUrl: 'http://a/fhir', imagingOrigins: [], ...more }],
    });
    expect(() => loadConfig({ EHRS_FILE: ehrsFile('method.json', entry({ tokenVerification: 'magic' })) })).toThrow(
      /method\.json: ehrs\[0\]\.tokenVerification: /,
    );
    expect(() =>
      loadConfig({ EHRS_FILE: ehrsFile('scopes.json', entry({ backendScopes: 'patient/ImagingStudy.rs' })) }),
    ).toThrow(/scopes\.json: ehrs\[0\]\.backendScopes: must be space-separated system\/ scopes/);
    expect(() => loadConfig({ EHRS_FILE: ehrsFile('typo.json', entry({ backendClientID: 'x' })) })).toThrow(
      /typo\.json: .*backendClientID/,
    );
  });

  it('when the job queue is configured, then its keys are read; without REDIS_URL analyses run in the process', () => {
    expect(loadConfig({})).toMatchObject({
      REDIS_URL: '',
      RUN_WORKER_IN_API: true,
      WORKER_CONCURRENCY: 4,
      JOB_ATTEMPTS: 3,
      JOB_BACKOFF_MS: 5000,
      JOB_LOCK_MS: 30000,
      BACKEND_CLIENT_ID: 'ldh-cds-server',
    });
    expect(loadConfig({}).BACKEND_SCOPES.split(' ')).toContain('system/DiagnosticReport.crus');
    const queued = loadConfig({
      REDIS_URL: 'rediss://user:secret@redis.internal:6380/2',
      RUN_WORKER_IN_API: 'false',
      WORKER_CONCURRENCY: '1',
      BACKEND_SCOPES: 'system/ImagingStudy.read system/DiagnosticReport.write',
    });
    expect(queued).toMatchObject({
      REDIS_URL: 'rediss://user:secret@redis.internal:6380/2',
      RUN_WORKER_IN_API: false,
      WORKER_CONCURRENCY: 1,
      BACKEND_SCOPES: 'system/ImagingStudy.read system/DiagnosticReport.write',
    });
    expect(() => loadConfig({ REDIS_URL: 'localhost:6379' })).toThrow(
      /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/,
    );
    expect(() => loadConfig({ BACKEND_SCOPES: 'user/ImagingStudy.rs' })).toThrow(
      /BACKEND_SCOPES: must be space-separated system\/ scopes/,
    );
    expect(() => loadConfig({ JOB_LOCK_MS: '10' })).toThrow(/JOB_LOCK_MS/);
  });

  it('when analyze on arrival is configured, then its keys are read; by default it is off', () => {
    expect(loadConfig({})).toMatchObject({
      ANALYZE_ON_ARRIVAL: 'off',
      ARRIVAL_POLL_INTERVAL_S: 60,
      ARRIVAL_RECHECK_INTERVAL_S: 900,
      ARRIVAL_CURSOR_FILE: 'server/.data/arrival-cursor.json',
      ARRIVAL_BACKFILL_HOURS: 0,
    });
    expect(
      loadConfig({ ANALYZE_ON_ARRIVAL: 'auto', ARRIVAL_POLL_INTERVAL_S: '5', ARRIVAL_BACKFILL_HOURS: '24' }),
    ).toMatchObject({ ANALYZE_ON_ARRIVAL: 'auto', ARRIVAL_POLL_INTERVAL_S: 5, ARRIVAL_BACKFILL_HOURS: 24 });
    expect(() => loadConfig({ ANALYZE_ON_ARRIVAL: 'on' })).toThrow(
      /ANALYZE_ON_ARRIVAL: must be one of off, poll, subscription, auto/,
    );
    expect(() => loadConfig({ ARRIVAL_POLL_INTERVAL_S: '0' })).toThrow(/ARRIVAL_POLL_INTERVAL_S/);
    expect(() => loadConfig({ ARRIVAL_BACKFILL_HOURS: '-1' })).toThrow(/ARRIVAL_BACKFILL_HOURS/);
  });

  it('when a value is invalid, then the error names the key', () => {
    expect(() => loadConfig({ APP_PORT: 'abc' })).toThrow(/APP_PORT/);
    expect(() => loadConfig({ FHIR_BASE_URLS: 'ftp://x' })).toThrow(/FHIR_BASE_URLS/);
    expect(() => loadConfig({ INFERENCE_EP: 'tpu' })).toThrow(/INFERENCE_EP/);
    expect(() => loadConfig({ DICOMWEB_CONCURRENCY: '0' })).toThrow(/DICOMWEB_CONCURRENCY/);
  });
});

import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from './config';

describe('loadConfig', () => {
  it('when the environment is empty, then every documented default applies', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      APP_PORT: 3000,
      APP_HOST: '127.0.0.1',
      FHIR_BASE_URLS: ['http://localhost:4000/fhir'],
      LOG_LEVEL: 'info',
      INFERENCE_EP: 'auto',
      INFERENCE_BATCH: 16,
      DICOMWEB_RETRIES: 3,
    });
    expect(Object.keys(config).sort()).toEqual(CONFIG_KEYS.map((k) => k.key).sort());
  });

  it('when FHIR_BASE_URLS lists several servers, then they are split and trailing slashes dropped', () => {
    expect(loadConfig({ FHIR_BASE_URLS: 'http://a/fhir/, https://b/r4' }).FHIR_BASE_URLS).toEqual([
      'http://a/fhir',
      'https://b/r4',
    ]);
  });

  it('when a value is invalid, then the error names the key', () => {
    expect(() => loadConfig({ APP_PORT: 'abc' })).toThrow(/APP_PORT/);
    expect(() => loadConfig({ FHIR_BASE_URLS: 'ftp://x' })).toThrow(/FHIR_BASE_URLS/);
    expect(() => loadConfig({ INFERENCE_EP: 'tpu' })).toThrow(/INFERENCE_EP/);
    expect(() => loadConfig({ DICOMWEB_CONCURRENCY: '0' })).toThrow(/DICOMWEB_CONCURRENCY/);
  });
});

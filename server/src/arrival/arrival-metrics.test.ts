import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createArrivalMetrics } from './arrival-metrics';

const EHR = 'https://ehr.example/fhir';

async function sample(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values.find((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value))?.value;
}

describe('createArrivalMetrics', () => {
  it('when the watcher starts and its reads fail, then the last-read time stays at the start, so the stall alert can fire', async () => {
    const registry = new Registry();
    const metrics = createArrivalMetrics(registry);
    metrics.started(EHR, 1_000_000);
    metrics.read(EHR, 'failed', 1_060_000);
    metrics.read(EHR, 'failed', 1_120_000);
    // Before: no sample existed until a first good read, and `time() - last_read` had nothing to compare.
    expect(await sample(registry, 'ldh_cds_arrival_last_read_timestamp_seconds', { ehr: EHR })).toBe(1_000);
    expect(await sample(registry, 'ldh_cds_arrival_reads_total', { ehr: EHR, result: 'failed' })).toBe(2);
  });

  it('when a read goes to the end and a study is queued, then the time moves and the counters count', async () => {
    const registry = new Registry();
    const metrics = createArrivalMetrics(registry);
    metrics.started(EHR, 1_000_000);
    metrics.read(EHR, 'ok', 1_010_000);
    metrics.read(EHR, 'deferred', 1_020_000);
    metrics.queued(EHR);
    expect(await sample(registry, 'ldh_cds_arrival_last_read_timestamp_seconds', { ehr: EHR })).toBe(1_010);
    expect(await sample(registry, 'ldh_cds_arrival_reads_total', { ehr: EHR, result: 'deferred' })).toBe(1);
    expect(await sample(registry, 'ldh_cds_arrival_studies_queued_total', { ehr: EHR })).toBe(1);
  });
});

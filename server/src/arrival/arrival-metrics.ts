/**
 * What the arrival watcher counts (analyze on arrival), as Prometheus metrics on the process's registry
 * (http/metrics.ts serves it): its reads of each EHR by result, the time of the last good one, and the studies it
 * queued. A watcher that has stopped reading — its token refused for good, the EHR unreachable, no process holding the
 * lease — shows as `ldh_cds_arrival_last_read_timestamp_seconds` falling behind (docs/deploy.md §What to monitor and
 * alert on).
 *
 * The one label, `ehr`, is a FHIR base URL of EHRS_FILE: a closed list set by the operator, no patient, no study.
 * Only the process that holds an EHR's lease reads it, so aggregate across processes with max (the timestamp) and
 * sum (the counters).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** How a read of an EHR ended: `deferred` when the watcher waits for room in the queue (nothing failed). */
export type ArrivalReadResult = 'ok' | 'failed' | 'deferred';

export interface ArrivalObserver {
  /** The watcher starts on this EHR: the last-read time starts here, so a watcher that never reads goes stale too. */
  started(ehr: string, atMs: number): void;
  read(ehr: string, result: ArrivalReadResult, atMs: number): void;
  queued(ehr: string): void;
}

export function createArrivalMetrics(registry: Registry): ArrivalObserver {
  const reads = new Counter({
    name: 'ldh_cds_arrival_reads_total',
    help: 'Reads of an EHR for new lumbar MR studies by the arrival watcher (ANALYZE_ON_ARRIVAL), by result: ok, failed, deferred (the queue full).',
    labelNames: ['ehr', 'result'] as const,
    registers: [registry],
  });
  const lastRead = new Gauge({
    name: 'ldh_cds_arrival_last_read_timestamp_seconds',
    help: 'When this process last read the EHR for arrivals to the end (Unix time), or started watching it; only the process holding the lease reads.',
    labelNames: ['ehr'] as const,
    registers: [registry],
  });
  const queued = new Counter({
    name: 'ldh_cds_arrival_studies_queued_total',
    help: 'Lumbar MR studies the arrival watcher queued for analysis (a job joined counts too).',
    labelNames: ['ehr'] as const,
    registers: [registry],
  });
  return {
    started(ehr, atMs) {
      lastRead.set({ ehr }, atMs / 1000);
    },
    read(ehr, result, atMs) {
      reads.inc({ ehr, result });
      if (result === 'ok') lastRead.set({ ehr }, atMs / 1000);
    },
    queued(ehr) {
      queued.inc({ ehr });
    },
  };
}

import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../pipeline/pipeline-error';
import { StudyLimitError } from '../dicom/study-limits';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { JobRefusedError } from './analysis-jobs';
import { analysisErrorKind, createJobMetrics, stageTimer, type JobMetrics } from './job-metrics';

/** A metric's value for these labels, as the registry would expose it (undefined: no such series). */
async function valueOf(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name);
  const values = (metric as { values?: { value: number; labels: Record<string, unknown> }[] } | undefined)?.values;
  return values?.find((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value))?.value;
}

describe('analysisErrorKind', () => {
  it('when an analysis fails, then its kind is the PipelineError kind the API answers it by', () => {
    expect(analysisErrorKind(new PipelineError('unprocessable', 'no axial T2 series'))).toBe('unprocessable');
    // Stage errors are classified as the API classifies them (pipeline-error.ts).
    expect(analysisErrorKind(new StudyLimitError('framesPerStudy', 5000, 4000))).toBe('too-large');
    expect(analysisErrorKind(new UpstreamRequestError('FHIR', 'down', 503, undefined))).toBe('upstream');
  });

  it('when a new job is refused, then its kind is the refusal; anything else is internal', () => {
    expect(analysisErrorKind(new JobRefusedError('queue-full', 'full', 15))).toBe('queue-full');
    expect(analysisErrorKind(new JobRefusedError('user-limit', 'enough', 15))).toBe('user-limit');
    expect(analysisErrorKind(new TypeError('a bug'))).toBe('internal');
  });
});

describe('stageTimer', () => {
  it('when an analysis moves through its stages, then each completed stage is observed once, the last one on success', () => {
    const observed: string[] = [];
    const metrics = { stageCompleted: (stage: string) => observed.push(stage) } as unknown as JobMetrics;
    const seen: string[] = [];
    const timer = stageTimer(metrics, (progress) => seen.push(`${progress.stage} ${String(progress.done)}`));
    timer.onProgress({ stage: 'finding-series' });
    timer.onProgress({ stage: 'retrieving', done: 0, total: 2 });
    timer.onProgress({ stage: 'retrieving', done: 2, total: 2 });
    timer.onProgress({ stage: 'inferring', done: 2, total: 2 });
    expect(observed).toEqual(['finding-series', 'retrieving']);
    timer.completed();
    expect(observed).toEqual(['finding-series', 'retrieving', 'inferring']);
    // The engine still gets every report.
    expect(seen).toEqual(['finding-series undefined', 'retrieving 0', 'retrieving 2', 'inferring 2']);
  });
});

describe('createJobMetrics', () => {
  it('when nothing has happened yet, then every finished state and error kind reads 0 (an increase shows at once)', async () => {
    const registry = new Registry();
    createJobMetrics(registry);
    expect(await valueOf(registry, 'ldh_cds_analysis_jobs_finished_total', { state: 'failed' })).toBe(0);
    expect(await valueOf(registry, 'ldh_cds_analysis_errors_total', { kind: 'too-large' })).toBe(0);
    // A process without a queue (a worker) has no queue gauges rather than a false 0.
    expect((await registry.getMetricsAsJSON()).map((m) => m.name)).not.toContain('ldh_cds_analysis_queue_depth');
  });

  it('when the queue is observed, then a scrape reads it, and a queue that does not answer reads NaN', async () => {
    const registry = new Registry();
    createJobMetrics(registry).observeQueue({
      capacity: 20,
      read: () => Promise.resolve({ queued: 3, running: 2 }),
    });
    expect(await valueOf(registry, 'ldh_cds_analysis_queue_depth')).toBe(3);
    expect(await valueOf(registry, 'ldh_cds_analysis_jobs_running')).toBe(2);
    expect(await valueOf(registry, 'ldh_cds_analysis_queue_capacity')).toBe(20);
    const away = new Registry();
    createJobMetrics(away).observeQueue({ capacity: 20, read: () => Promise.reject(new Error('Redis is away')) });
    expect(await valueOf(away, 'ldh_cds_analysis_queue_depth')).toBeNaN();
    expect(await valueOf(away, 'ldh_cds_analysis_jobs_running')).toBeNaN();
  });

  it('when jobs run, then the counters and histograms count them by state and kind', async () => {
    const registry = new Registry();
    const metrics = createJobMetrics(registry);
    metrics.jobQueued();
    metrics.jobStarted(1500);
    metrics.stageCompleted('retrieving', 250);
    metrics.jobFinished('completed', 4000);
    metrics.jobFinished('cancelled');
    metrics.analysisError('unprocessable');
    metrics.jobRetried('stalled');
    expect(await valueOf(registry, 'ldh_cds_analysis_jobs_queued_total')).toBe(1);
    expect(await valueOf(registry, 'ldh_cds_analysis_jobs_finished_total', { state: 'completed' })).toBe(1);
    expect(await valueOf(registry, 'ldh_cds_analysis_jobs_finished_total', { state: 'cancelled' })).toBe(1);
    expect(await valueOf(registry, 'ldh_cds_analysis_errors_total', { kind: 'unprocessable' })).toBe(1);
    expect(await valueOf(registry, 'ldh_cds_analysis_job_retries_total', { kind: 'stalled' })).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain('ldh_cds_analysis_stage_duration_seconds_sum{stage="retrieving"} 0.25');
    expect(text).toContain('ldh_cds_analysis_queue_wait_seconds_sum 1.5');
    // A job cancelled before it ran has no run time.
    expect(text).toContain('ldh_cds_analysis_job_duration_seconds_count{state="completed"} 1');
    expect(text).not.toContain('ldh_cds_analysis_job_duration_seconds_count{state="cancelled"}');
  });
});

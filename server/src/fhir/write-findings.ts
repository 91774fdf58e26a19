/**
 * Writes one analysis as ONE FHIR transaction (FHIR R4 §3.1.0.11): Device, an Observation per level and the
 * DiagnosticReport, each a conditional create (`request.ifNoneExist`, §3.1.0.8.1) on an identifier derived
 * from study UID + model id/version (+ level), so analysing the same study twice creates no duplicates.
 * Entries reference each other by `urn:uuid` fullUrls, which the server rewrites (§3.1.0.11.2).
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, FhirResource, Identifier } from 'fhir/r4';
import type { Findings } from '../findings/findings';
import {
  findingToObservation,
  findingsToDiagnosticReport,
  modelToDevice,
  type FindingsContext,
  type ModelDescription,
} from './builders';
import { locationToReference, type FhirClient } from './fhir-client';

export interface WrittenFindings {
  diagnosticReport: string;
  observations: string[];
  device: string;
}

function ifNoneExist(identifier: Identifier): string {
  return `identifier=${encodeURIComponent(identifier.system ?? '')}|${encodeURIComponent(identifier.value ?? '')}`;
}

function conditionalCreate(resource: FhirResource & { identifier?: Identifier[] }, fullUrl: string): BundleEntry {
  const identifier = resource.identifier?.[0];
  return {
    fullUrl,
    resource,
    request: {
      method: 'POST',
      url: resource.resourceType,
      ...(identifier ? { ifNoneExist: ifNoneExist(identifier) } : {}),
    },
  };
}

export function findingsToTransaction(
  findings: Findings,
  model: ModelDescription,
  context: Omit<FindingsContext, 'device'>,
): Bundle {
  const deviceUrl = `urn:uuid:${randomUUID()}`;
  const fullContext: FindingsContext = { ...context, device: { reference: deviceUrl } };
  const observationEntries = findings.levels.map((level) =>
    conditionalCreate(findingToObservation(level, findings, fullContext), `urn:uuid:${randomUUID()}`),
  );
  const report = findingsToDiagnosticReport(
    findings,
    fullContext,
    observationEntries.map((entry) => ({ reference: entry.fullUrl ?? '' })),
  );
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      conditionalCreate(modelToDevice(model), deviceUrl),
      ...observationEntries,
      conditionalCreate(report, `urn:uuid:${randomUUID()}`),
    ],
  };
}

/** Posts the transaction and reads the new (or existing) resource ids from the response Locations. */
export async function writeFindings(
  client: FhirClient,
  findings: Findings,
  model: ModelDescription,
  context: Omit<FindingsContext, 'device'>,
): Promise<WrittenFindings> {
  const bundle = findingsToTransaction(findings, model, context);
  const response = await client.transaction(bundle);
  const entries = response.entry ?? [];
  if (entries.length !== (bundle.entry ?? []).length) {
    throw new Error(`FHIR transaction answered ${entries.length} entries for ${(bundle.entry ?? []).length} requested`);
  }
  // FHIR R4 §3.1.0.11.3: response entries are in request order; each carries response.location (or the resource).
  const references = entries.map((entry, index) => {
    const location =
      entry.response?.location ??
      (entry.resource?.id ? `${entry.resource.resourceType}/${entry.resource.id}` : undefined);
    if (!location) throw new Error(`FHIR transaction response entry ${index} has no location`);
    return locationToReference(location);
  });
  return {
    device: references[0] ?? '',
    observations: references.slice(1, -1),
    diagnosticReport: references[references.length - 1] ?? '',
  };
}

/**
 * Writes one analysis as ONE FHIR transaction (R4 http.html#transaction: all or nothing): Device, the SR's
 * DocumentReference, an Observation per assessed level, the DiagnosticReport and the AI Provenance, each a conditional
 * create (`request.ifNoneExist`, R4 http.html#cond-create) on an identifier derived from study UID + model id/version
 * (+ level), so a repeated transaction creates nothing twice. Entries reference each other by `urn:uuid` fullUrls,
 * which the server rewrites (R4 bundle.html#references).
 *
 * When a new model version analyzes a study that already has an AI report still awaiting review, the same
 * transaction supersedes it (docs/fhir-mapping.md §Superseding an earlier AI report):
 * - the new report names it with the core extension `diagnosticReport-replaces` (R4 extension-diagnosticreport-
 *   replaces: "The report replaces the target resource"), and the new Provenance lists it as entity `revision`;
 * - the old report and its Observations become `cancelled` — withdrawn, though real activity happened, which R4's
 *   diagnostic-report-status and observation-status reserve `cancelled` for rather than `entered-in-error` — with text
 *   that says by what; its SR DocumentReference becomes `superseded` and the new one `replaces` it
 *   (DocumentReference.relatesTo);
 * - each update carries `ifMatch` with the version read, so a report changed meanwhile (a clinician signing it) fails
 *   the whole transaction instead of being overwritten.
 * A report a clinician has signed is never superseded: the caller only passes preliminary ones.
 */
import { randomUUID } from 'node:crypto';
import type {
  Bundle,
  BundleEntry,
  DiagnosticReport,
  DocumentReference,
  FhirResource,
  Identifier,
  Observation,
  Reference,
} from 'fhir/r4';
import type { Findings } from '../findings/findings';
import {
  analysisKey,
  analysisProvenance,
  findingToObservation,
  findingsToDiagnosticReport,
  modelToDevice,
  narrative,
  structuredReportToDocumentReference,
  type AnalysisContext,
  type AnalysisReferences,
  type ModelDescription,
} from './builders';
import { ANALYSIS_TAG_SYSTEM } from './codes';
import { locationToReference, type FhirClient } from './fhir-client';

export interface WrittenFindings {
  diagnosticReport: string;
  observations: string[];
  device: string;
  document?: string;
  provenance: string;
}

/** An earlier AI report of the study, as read (with `meta.versionId`), that the new analysis supersedes. */
export interface SupersededAnalysis {
  report: DiagnosticReport & { id: string };
  observations: (Observation & { id: string })[];
  document?: DocumentReference & { id: string };
}

function ifNoneExist(identifier: Identifier): string {
  return `identifier=${encodeURIComponent(identifier.system ?? '')}|${encodeURIComponent(identifier.value ?? '')}`;
}

function conditionalCreate(
  resource: FhirResource & { identifier?: Identifier[] },
  fullUrl: string,
  condition?: string,
): BundleEntry {
  const identifier = resource.identifier?.[0];
  const query = condition ?? (identifier ? ifNoneExist(identifier) : undefined);
  return {
    fullUrl,
    resource,
    request: { method: 'POST', url: resource.resourceType, ...(query ? { ifNoneExist: query } : {}) },
  };
}

/** An update that fails (412) when the resource changed since it was read: never overwrite someone's edit. */
function versionedUpdate(resource: FhirResource & { id: string }): BundleEntry {
  const versionId = resource.meta?.versionId;
  const { meta, ...rest } = resource;
  const keptMeta = meta?.security || meta?.tag ? { meta: { security: meta.security, tag: meta.tag } } : {};
  return {
    resource: { ...rest, ...keptMeta },
    request: {
      method: 'PUT',
      url: `${resource.resourceType}/${resource.id}`,
      ...(versionId ? { ifMatch: `W/"${versionId}"` } : {}),
    },
  };
}

function supersededNote(findings: Findings, issued: string): string {
  return (
    `Superseded on ${issued.slice(0, 10)} by the ${findings.model.id} ${findings.model.version} analysis of this ` +
    'study; kept for the record.'
  );
}

function supersedeEntries(superseded: SupersededAnalysis, findings: Findings, issued: string): BundleEntry[] {
  const note = supersededNote(findings, issued);
  const report: DiagnosticReport & { id: string } = {
    ...superseded.report,
    status: 'cancelled',
    conclusion: `${note}\n${superseded.report.conclusion ?? ''}`.trim(),
    text: narrative([note, ...(superseded.report.conclusion ?? '').split('\n')]),
  };
  const observations = superseded.observations.map((observation): Observation & { id: string } => ({
    ...observation,
    status: 'cancelled',
    note: [...(observation.note ?? []), { text: note }],
  }));
  const document = superseded.document ? [versionedUpdate({ ...superseded.document, status: 'superseded' })] : [];
  return [versionedUpdate(report), ...observations.map(versionedUpdate), ...document];
}

export function findingsToTransaction(
  findings: Findings,
  model: ModelDescription,
  context: AnalysisContext,
  superseded?: SupersededAnalysis,
): Bundle {
  const newUrl = (): string => `urn:uuid:${randomUUID()}`;
  const observationUrls = findings.levels.map(newUrl);
  const replaces: Reference | undefined = superseded
    ? { reference: `DiagnosticReport/${superseded.report.id}` }
    : undefined;
  const references: AnalysisReferences = {
    device: { reference: newUrl() },
    ...(context.structuredReport ? { document: { reference: newUrl() } } : {}),
    observations: observationUrls.map((reference) => ({ reference })),
    report: { reference: newUrl() },
    ...(replaces ? { replaces } : {}),
  };
  const documentReplaces = superseded?.document
    ? { reference: `DocumentReference/${superseded.document.id}` }
    : undefined;
  const documentEntry =
    context.structuredReport && references.document
      ? [
          conditionalCreate(
            structuredReportToDocumentReference(context.structuredReport, findings, context, {
              device: references.device,
              ...(documentReplaces ? { replaces: documentReplaces } : {}),
            }),
            references.document.reference ?? '',
          ),
        ]
      : [];
  const provenance = analysisProvenance(findings, context, references);
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      conditionalCreate(modelToDevice(model), references.device.reference ?? ''),
      ...documentEntry,
      ...findings.levels.map((level, index) =>
        conditionalCreate(
          findingToObservation(level, findings, context, references),
          observationUrls[index] ?? newUrl(),
        ),
      ),
      conditionalCreate(findingsToDiagnosticReport(findings, context, references), references.report.reference ?? ''),
      // Provenance has no identifier: its analysis tag makes the create conditional (`_tag`, R4 search.html#all).
      conditionalCreate(
        provenance,
        newUrl(),
        `_tag=${encodeURIComponent(ANALYSIS_TAG_SYSTEM)}|${encodeURIComponent(analysisKey(findings.studyInstanceUid, findings.model))}`,
      ),
      ...(superseded ? supersedeEntries(superseded, findings, context.issued) : []),
    ],
  };
}

/** Posts the transaction and reads the new (or existing) resource ids from the response Locations. */
export async function writeFindings(
  client: FhirClient,
  findings: Findings,
  model: ModelDescription,
  context: AnalysisContext,
  superseded?: SupersededAnalysis,
): Promise<WrittenFindings> {
  const bundle = findingsToTransaction(findings, model, context, superseded);
  const response = await client.transaction(bundle);
  const entries = response.entry ?? [];
  const requested = bundle.entry ?? [];
  if (entries.length !== requested.length) {
    throw new Error(`FHIR transaction answered ${entries.length} entries for ${requested.length} requested`);
  }
  // R4 http.html#transaction-response: response entries are in request order; each carries response.location
  // (or the resource).
  const references = entries.map((entry, index) => {
    const location =
      entry.response?.location ??
      (entry.resource?.id ? `${entry.resource.resourceType}/${entry.resource.id}` : undefined);
    if (!location) throw new Error(`FHIR transaction response entry ${index} has no location`);
    return locationToReference(location);
  });
  const at = (index: number): string => references[index] ?? '';
  const hasDocument = context.structuredReport !== undefined;
  const firstObservation = hasDocument ? 2 : 1;
  const reportIndex = firstObservation + findings.levels.length;
  return {
    device: at(0),
    ...(hasDocument ? { document: at(1) } : {}),
    observations: references.slice(firstObservation, reportIndex),
    diagnosticReport: at(reportIndex),
    provenance: at(reportIndex + 1),
  };
}

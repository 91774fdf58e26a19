/**
 * What the pipeline needs from an ImagingStudy: its Study Instance UID (identifier `urn:dicom:uid`, value
 * `urn:oid:…`, FHIR R4 ImagingStudy notes) and the DICOMweb base from `endpoint[0]` → Endpoint.address.
 */
import type { Endpoint, ImagingStudy } from 'fhir/r4';
import { FhirRequestRefusedError, type FhirClient } from '../fhir/fhir-client';
import { DICOM_UID_SYSTEM } from '../fhir/codes';
import { PipelineError } from './pipeline-error';

const IMAGING_STUDY_REFERENCE = /^ImagingStudy\/[A-Za-z0-9\-.]{1,64}$/;

export function parseImagingStudyReference(value: unknown): string {
  if (typeof value !== 'string' || !IMAGING_STUDY_REFERENCE.test(value)) {
    throw new PipelineError(
      'invalid-input',
      `"imagingStudy" must be a reference like "ImagingStudy/<id>", got ${value === undefined ? 'nothing' : JSON.stringify(value)}`,
    );
  }
  return value;
}

export function studyInstanceUidOf(study: ImagingStudy): string {
  const identifier =
    study.identifier?.find(
      (id) => (id.system === DICOM_UID_SYSTEM || id.system === 'urn:ietf:rfc:3986') && id.value?.startsWith('urn:oid:'),
    ) ?? study.identifier?.find((id) => id.system === DICOM_UID_SYSTEM);
  const uid = identifier?.value?.replace(/^urn:oid:/, '');
  if (!uid)
    throw new PipelineError(
      'unprocessable',
      `ImagingStudy/${study.id ?? '?'} has no Study Instance UID (identifier with system ${DICOM_UID_SYSTEM})`,
    );
  return uid;
}

/**
 * The DICOMweb base URL of the study, which gets the user's token: only when it is on an imaging origin configured for
 * the EHR of the launch (EHRS_FILE, server/src/trusted-ehrs.ts), never on another EHR's. The Endpoint itself is read
 * from the launch's FHIR server only: an absolute `ImagingStudy.endpoint` elsewhere is refused before any request.
 */
export async function dicomwebBaseOf(
  client: FhirClient,
  study: ImagingStudy,
  imagingOrigins: readonly string[],
): Promise<string> {
  const reference = study.endpoint?.[0]?.reference;
  if (!reference)
    throw new PipelineError(
      'unprocessable',
      `ImagingStudy/${study.id ?? '?'} has no endpoint: cannot find its DICOMweb server`,
    );
  const endpoint = await readEndpoint(client, study, reference);
  if (!endpoint.address)
    throw new PipelineError(
      'unprocessable',
      `${reference} has no address: cannot find the DICOMweb server of ImagingStudy/${study.id ?? '?'}`,
    );
  let url: URL;
  try {
    url = new URL(endpoint.address);
  } catch {
    throw new PipelineError('unprocessable', `${reference} address "${endpoint.address}" is not an absolute URL`);
  }
  if (!imagingOrigins.includes(url.origin)) {
    const configured = imagingOrigins.length > 0 ? imagingOrigins.join(', ') : 'none';
    throw new PipelineError(
      'unprocessable',
      `The DICOMweb server of ImagingStudy/${study.id ?? '?'} (${reference} address) is on ${url.origin}, which is not ` +
        `an imaging origin of the EHR ${client.baseUrl} (configured: ${configured}). ldh-cds sends your token only to ` +
        `that EHR's FHIR server and the imaging origins configured for it; if this PACS belongs to that EHR, add ` +
        `"${url.origin}" to its "imagingOrigins" in EHRS_FILE (smart-config/ehrs.json) and restart the app server.`,
    );
  }
  return endpoint.address.replace(/\/+$/, '');
}

/** The Endpoint, read from the launch's FHIR server (the FHIR client refuses a reference to another server). */
async function readEndpoint(client: FhirClient, study: ImagingStudy, reference: string): Promise<Endpoint> {
  try {
    return await client.read<Endpoint>(reference);
  } catch (error) {
    const origin = absoluteOrigin(reference);
    if (error instanceof FhirRequestRefusedError && origin !== undefined && origin !== new URL(client.baseUrl).origin) {
      throw new PipelineError(
        'unprocessable',
        `ImagingStudy.endpoint points to another server (${origin}): ImagingStudy/${study.id ?? '?'} can only be ` +
          `analyzed when its Endpoint is on the EHR's FHIR server (${client.baseUrl}), which ldh-cds reads with your ` +
          'token; nothing was sent there.',
        { cause: error },
      );
    }
    throw error;
  }
}

function absoluteOrigin(reference: string): string | undefined {
  try {
    return new URL(reference).origin;
  } catch {
    return undefined;
  }
}

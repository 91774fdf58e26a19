/**
 * What the pipeline needs from an ImagingStudy: its Study Instance UID (identifier `urn:dicom:uid`, value
 * `urn:oid:…`, FHIR R4 ImagingStudy notes) and the DICOMweb base from `endpoint[0]` → Endpoint.address.
 */
import type { Endpoint, ImagingStudy } from 'fhir/r4';
import type { FhirClient } from '../fhir/fhir-client';
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

/** The DICOMweb base URL; only sent our bearer token when it is on a trusted server's origin. */
export async function dicomwebBaseOf(
  client: FhirClient,
  study: ImagingStudy,
  trustedOrigins: readonly string[],
): Promise<string> {
  const reference = study.endpoint?.[0]?.reference;
  if (!reference)
    throw new PipelineError(
      'unprocessable',
      `ImagingStudy/${study.id ?? '?'} has no endpoint: cannot find its DICOMweb server`,
    );
  const endpoint = await client.read<Endpoint>(reference);
  if (!endpoint.address)
    throw new PipelineError(
      'unprocessable',
      `${reference} has no address: cannot find the DICOMweb server of ImagingStudy/${study.id ?? '?'}`,
    );
  let origin: string;
  try {
    origin = new URL(endpoint.address).origin;
  } catch {
    throw new PipelineError('unprocessable', `${reference} address "${endpoint.address}" is not an absolute URL`);
  }
  if (!trustedOrigins.includes(origin)) {
    // The user's access token goes to this address: never to a server outside the trusted EHR origins.
    throw new PipelineError(
      'unprocessable',
      `${reference} address ${origin} is not on a trusted FHIR server's origin (${trustedOrigins.join(', ')})`,
    );
  }
  return endpoint.address.replace(/\/+$/, '');
}

/**
 * STOW-RS (PS3.18 §10.5): `POST /studies[/{study}]` with `multipart/related; type="application/dicom"`. Each part
 * is one Part 10 instance; the answer lists stored (ReferencedSOPSequence) and failed (FailedSOPSequence)
 * instances: 200 all stored, 202 some failed, 409 none stored (§10.5.3).
 */
import { badRequest, HttpError, buildOutcome } from '../http/errors';
import type { DicomJsonDataset } from './dcmjs';
import { parsePart10 } from './dcmjs';
import { firstString, TAG } from './dicom-store';

/** Failure Reason (0008,1197) values (PS3.18 §10.5.3, PS3.4 Annex GG). */
export const FAILURE = {
  /** C000: cannot understand (not a parseable Part 10 instance). */
  cannotUnderstand: 0xc000,
  /** A900: the instance does not belong to the study in the request URL. */
  studyMismatch: 0xa900,
  /** 0124: refused, not authorized (another patient than the token's). */
  refused: 0x0124,
} as const;

/** Splits a multipart/related body into its parts (RFC 2387); asserts the root type is application/dicom. */
export function parseMultipartRelated(contentType: string | undefined, body: Buffer): Buffer[] {
  if (contentType === undefined || !/^multipart\/related/i.test(contentType)) {
    throw new HttpError(415, {
      kind: 'outcome',
      outcome: buildOutcome('not-supported', 'STOW-RS needs Content-Type multipart/related; type="application/dicom"'),
    });
  }
  const type = /type="?([^";]+)"?/i.exec(contentType)?.[1]?.toLowerCase();
  if (type !== undefined && type !== 'application/dicom') {
    throw new HttpError(415, {
      kind: 'outcome',
      outcome: buildOutcome('not-supported', `STOW-RS here accepts type="application/dicom" only (got "${type}")`),
    });
  }
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) throw badRequest('multipart/related Content-Type lacks a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let position = body.indexOf(delimiter);
  if (position < 0) throw badRequest('multipart body holds no part with the declared boundary');
  while (position >= 0) {
    const afterDelimiter = position + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', afterDelimiter);
    if (headerEnd < 0) throw badRequest('multipart part without a header/body separator');
    const next = body.indexOf(delimiter, headerEnd + 4);
    if (next < 0) throw badRequest('multipart body is not terminated by its closing boundary');
    // The CRLF before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    let end = next;
    if (body[end - 2] === 0x0d && body[end - 1] === 0x0a) end -= 2;
    parts.push(body.subarray(headerEnd + 4, end));
    position = next;
  }
  return parts;
}

export interface StowItem {
  sopClassUid: string | undefined;
  sopInstanceUid: string | undefined;
  retrieveUrl?: string;
  failureReason?: number;
}

/** Reads the UIDs of a part that may or may not parse (for FailedSOPSequence). */
export function peekUids(part10: Uint8Array): {
  study?: string;
  sopClass?: string;
  sopInstance?: string;
  patientId?: string;
} {
  try {
    const { dataset } = parsePart10(part10);
    return {
      study: firstString(dataset[TAG.StudyInstanceUID]),
      sopClass: firstString(dataset[TAG.SOPClassUID]),
      sopInstance: firstString(dataset[TAG.SOPInstanceUID]),
      patientId: firstString(dataset[TAG.PatientID]),
    };
  } catch {
    return {};
  }
}

export function buildStowResponse(
  studyUrl: string | undefined,
  stored: StowItem[],
  failed: StowItem[],
): DicomJsonDataset {
  const item = (entry: StowItem): DicomJsonDataset => {
    const out: DicomJsonDataset = {};
    if (entry.sopClassUid) out['00081150'] = { vr: 'UI', Value: [entry.sopClassUid] };
    if (entry.sopInstanceUid) out['00081155'] = { vr: 'UI', Value: [entry.sopInstanceUid] };
    if (entry.retrieveUrl) out['00081190'] = { vr: 'UR', Value: [entry.retrieveUrl] };
    if (entry.failureReason !== undefined) out['00081197'] = { vr: 'US', Value: [entry.failureReason] };
    return out;
  };
  const response: DicomJsonDataset = {};
  if (studyUrl) response['00081190'] = { vr: 'UR', Value: [studyUrl] };
  if (stored.length > 0) response['00081199'] = { vr: 'SQ', Value: stored.map(item) };
  if (failed.length > 0) response['00081198'] = { vr: 'SQ', Value: failed.map(item) };
  return response;
}

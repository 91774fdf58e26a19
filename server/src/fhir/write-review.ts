/**
 * Writes one signing as ONE FHIR transaction (R4 http.html#transaction: all or nothing): the report and every changed
 * Observation updated under `ifMatch` with the version read (the report with the version the clinician saw), so a
 * record someone else changed meanwhile fails the whole transaction (412) instead of being overwritten
 * (http.html#concurrency); and the signing Provenance, created only if none carries this review's tag
 * (`ifNoneExist: _tag=…`, http.html#cond-create), so a repeated transaction never records the signing twice.
 *
 * Provenance.target names the new versions by plain reference: the versions an update will get are the server's to
 * assign, and R4 gives a transaction no way to name them ahead (its placeholders are for creates). The version the
 * clinician reviewed is named exactly (entity `revision`, `…/_history/<n>`), and the new report version carries the
 * review tag, which ties it to its Provenance.
 */
import type { Bundle, BundleEntry, FhirResource } from 'fhir/r4';
import { REVIEW_TAG_SYSTEM } from './codes';
import type { FhirClient } from './fhir-client';
import type { SignedAnalysis } from './review-builders';

/** An update under If-Match (W/"<version>"); the server manages meta.versionId and meta.lastUpdated. */
function versionedUpdate(resource: FhirResource & { id: string }, versionId: string | undefined): BundleEntry {
  const { meta, ...rest } = resource;
  const kept = {
    ...(meta?.profile ? { profile: meta.profile } : {}),
    ...(meta?.security ? { security: meta.security } : {}),
    ...(meta?.tag ? { tag: meta.tag } : {}),
  };
  const keptMeta = Object.keys(kept).length > 0 ? { meta: kept } : {};
  return {
    resource: { ...rest, ...keptMeta },
    request: {
      method: 'PUT',
      url: `${resource.resourceType}/${resource.id}`,
      ...(versionId ? { ifMatch: `W/"${versionId}"` } : {}),
    },
  };
}

export function signingToTransaction(
  signed: SignedAnalysis,
  versions: { report: string; observations: ReadonlyMap<string, string | undefined> },
  reviewKey: string,
): Bundle {
  const changed = signed.levels.filter((level) => level.changed);
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      versionedUpdate(signed.report, versions.report),
      ...changed.map((level) => versionedUpdate(level.observation, versions.observations.get(level.observation.id))),
      {
        resource: signed.provenance,
        request: {
          method: 'POST',
          url: 'Provenance',
          ifNoneExist: `_tag=${encodeURIComponent(REVIEW_TAG_SYSTEM)}|${encodeURIComponent(reviewKey)}`,
        },
      },
    ],
  };
}

/** Posts the signing. A 412 (someone changed a record) reaches the caller as the FHIR client's UpstreamRequestError. */
export async function writeSigning(
  client: FhirClient,
  signed: SignedAnalysis,
  versions: { report: string; observations: ReadonlyMap<string, string | undefined> },
  reviewKey: string,
): Promise<Bundle> {
  return client.transaction(signingToTransaction(signed, versions, reviewKey));
}

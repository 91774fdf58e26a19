/**
 * The study the EHR launched the app at, from the SMART token response (docs/fhir-mapping.md §Opening the app at a
 * study). Two ways to say it:
 *
 * - `appContext` — CDS Hooks 2.0 Link.appContext: a string the CDS service put on a card's SMART link, which the EHR
 *   hands to the app unchanged in the token response. Ours is JSON (cds-hooks/cards.ts `appLink`):
 *   `{"imagingStudy":"ImagingStudy/<id>","diagnosticReport":"DiagnosticReport/<id>"}`, with `"analyze":true` on the
 *   link of a study that was never analyzed ("Open ldh-cds to analyze this study": the clinician asked for it).
 * - `fhirContext` — SMART App Launch 2.x: an array of the resources the app was launched with; objects with a relative
 *   `reference` (2.1 and later; `role` absent or `launch`) or, in 2.0.0, plain relative reference strings. An EHR that
 *   launches the app from an imaging study names it there.
 *
 * A card's appContext wins (it is ours and says the most); otherwise fhirContext when it names exactly one
 * ImagingStudy. Anything else — no context, another shape, another resource type, an id FHIR does not allow, several
 * studies — is no study: the app opens as for the patient alone.
 */

export interface LaunchStudy {
  /** The ImagingStudy's id. */
  studyId: string;
  /** Start (or join) its analysis when it has none stored: the card's link asked to analyze it. */
  analyze: boolean;
}

/** R4 datatypes.html#id: up to 64 letters, digits, '-' and '.'. */
const IMAGING_STUDY_REFERENCE = /^ImagingStudy\/([A-Za-z0-9\-.]{1,64})$/;

const studyIdOf = (reference: unknown): string | undefined =>
  typeof reference === 'string' ? IMAGING_STUDY_REFERENCE.exec(reference.trim())?.[1] : undefined;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The card's appContext: a JSON string (CDS Hooks), or the object itself from an EHR that parsed it on the way. */
function fromAppContext(appContext: unknown): LaunchStudy | undefined {
  let value = appContext;
  if (typeof appContext === 'string') {
    try {
      value = JSON.parse(appContext) as unknown;
    } catch {
      return undefined; // another service's appContext: not ours to read
    }
  }
  if (!isObject(value)) return undefined;
  const studyId = studyIdOf(value.imagingStudy);
  return studyId === undefined ? undefined : { studyId, analyze: value.analyze === true };
}

/** The one ImagingStudy SMART fhirContext launches the app with. */
function fromFhirContext(fhirContext: unknown): LaunchStudy | undefined {
  if (!Array.isArray(fhirContext)) return undefined;
  const ids = new Set<string>();
  for (const item of fhirContext) {
    if (typeof item === 'string') {
      const id = studyIdOf(item);
      if (id !== undefined) ids.add(id);
    } else if (isObject(item) && (item.role === undefined || item.role === 'launch')) {
      const id = studyIdOf(item.reference);
      if (id !== undefined) ids.add(id);
    }
  }
  const [studyId, ...others] = ids;
  return studyId !== undefined && others.length === 0 ? { studyId, analyze: false } : undefined;
}

/** The study a token response launches the app at, if it names one (see the file's comment). */
export function tokenResponseToLaunchStudy(tokenResponse: Record<string, unknown>): LaunchStudy | undefined {
  return fromAppContext(tokenResponse.appContext) ?? fromFhirContext(tokenResponse.fhirContext);
}

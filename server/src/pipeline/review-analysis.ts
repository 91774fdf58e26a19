/**
 * The clinician's loop, composed (docs/fhir-mapping.md §Clinician review): check the review, find who signs, read the
 * report and its Observations as they are now, sign them in one transaction, answer the signed analysis as stored.
 *
 * Never overwrite: the report must still be the version the clinician saw (`versionId`), and every update carries
 * If-Match with the version read just before, so a change made meanwhile fails the whole transaction → 409 with a
 * sentence, edits kept in the panel. Never sign twice: the review is named by a hash of the request, its base version
 * and the signer (a `meta.tag` on the report version it produced and on its Provenance); a save repeated after its
 * answer was lost finds the report already signed by this very review and answers it (200) rather than a conflict.
 */
import { createHash } from 'node:crypto';
import type { DiagnosticReport, HumanName, Practitioner, PractitionerRole } from 'fhir/r4';
import {
  DISC_LEVELS,
  type DiscLevel,
  type HerniationSide,
  type LevelReading,
  type LevelReviewInput,
  type MsuGrade,
  type MsuZone,
  type ReviewDecision,
  type ReviewRequest,
} from '../findings/findings';
import { REVIEW_TAG_SYSTEM } from '../fhir/codes';
import { referenceToRelative, type FhirClient } from '../fhir/fhir-client';
import { levelOf } from '../fhir/observation-reading';
import {
  analysisOfReport,
  isWithdrawnReport,
  readAnalysisResources,
  readReportHistory,
  readStoredAnalysis,
  type StoredAnalysis,
} from '../fhir/read-findings';
import { signAnalysis, type ReviewSigning, type Signer } from '../fhir/review-builders';
import { writeSigning } from '../fhir/write-review';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { readStructuredReportLevels, type AnalyzeDependencies } from './analyze-study';
import { assertOwnPatient, type PatientRestriction } from './patient-match';
import { PipelineError, toPipelineError } from './pipeline-error';

export interface ReviewAnalysisRequest {
  fhirBaseUrl: string;
  accessToken: string;
  /** The SMART session's `fhirUser` (an absolute URL under the FHIR base, or `Practitioner/<id>`), if it names one. */
  fhirUser: string | undefined;
  review: ReviewRequest;
  /** A patient-scoped token's patient: the report must be theirs (patient-match.ts). */
  patientRestriction?: PatientRestriction | undefined;
}

/** The sentence the panel shows when someone else changed the report since the clinician opened it. */
export const CHANGED_MEANWHILE =
  'This report was changed by someone else since you opened it; reload to see the current version — your edits are ' +
  'kept in the panel.';

const DECISIONS: readonly ReviewDecision[] = ['confirm', 'edit', 'reject'];
const GRADES: readonly MsuGrade[] = [1, 2, 3];
const ZONES: readonly MsuZone[] = ['A', 'B', 'C', 'AB', 'BC'];
const SIDES: readonly HerniationSide[] = ['left', 'right', 'central'];
const REPORT_REFERENCE = /^DiagnosticReport\/[A-Za-z0-9\-.]{1,64}$/;
const VERSION_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const MAX_TEXT = 2000;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const optionalText = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim().length > 0 ? value.trim() : undefined;

function parseReading(value: unknown): LevelReading | undefined {
  if (!isObject(value) || typeof value.herniation !== 'boolean') return undefined;
  if (!value.herniation) return { herniation: false };
  const { grade, zone, side } = value;
  if (
    !GRADES.includes(grade as MsuGrade) ||
    !ZONES.includes(zone as MsuZone) ||
    !SIDES.includes(side as HerniationSide)
  )
    return undefined;
  return { herniation: true, grade: grade as MsuGrade, zone: zone as MsuZone, side: side as HerniationSide };
}

/**
 * The body of `POST /api/analyses/review`, checked: every problem named (which field, which level) in one message.
 * Whether every assessed level is decided is checked against the report (`reviewAnalysis`).
 */
export function parseReviewRequest(body: unknown): ReviewRequest {
  if (!isObject(body)) throw new PipelineError('invalid-input', 'The review must be a JSON object');
  const problems: string[] = [];
  const diagnosticReport = typeof body.diagnosticReport === 'string' ? body.diagnosticReport : '';
  if (!REPORT_REFERENCE.test(diagnosticReport)) problems.push('diagnosticReport must be "DiagnosticReport/<id>"');
  const versionId = typeof body.versionId === 'string' ? body.versionId : '';
  if (!VERSION_ID.test(versionId)) problems.push("versionId must be the report's meta.versionId as last read");
  const levels: LevelReviewInput[] = [];
  if (!Array.isArray(body.levels) || body.levels.length === 0) {
    problems.push('levels must list a decision for every assessed level');
  } else {
    body.levels.forEach((item: unknown, index) => {
      if (!isObject(item) || !DISC_LEVELS.includes(item.level as DiscLevel)) {
        problems.push(`levels[${index}].level must be one of ${DISC_LEVELS.join(', ')}`);
        return;
      }
      const level = item.level as DiscLevel;
      if (levels.some((decided) => decided.level === level)) {
        problems.push(`${level} is decided twice`);
        return;
      }
      if (!DECISIONS.includes(item.decision as ReviewDecision)) {
        problems.push(`${level}: decision must be confirm, edit or reject`);
        return;
      }
      const decision = item.decision as ReviewDecision;
      const comment = optionalText(item.comment);
      const reason = optionalText(item.reason);
      if (comment && comment.length > MAX_TEXT)
        problems.push(`${level}: the comment is longer than ${MAX_TEXT} characters`);
      if (decision === 'edit') {
        const reading = parseReading(item.reading);
        if (!reading) {
          problems.push(
            `${level}: an edit needs the clinician's reading — herniation true with grade 1–3, zone A, B, C, AB or BC ` +
              'and side left, right or central, or herniation false for "no herniation"',
          );
          return;
        }
        levels.push({ level, decision, reading, ...(comment ? { comment } : {}) });
      } else if (decision === 'reject') {
        if (!reason) {
          problems.push(`${level}: a rejection needs a reason (for example artefact, wrong level, not a herniation)`);
          return;
        }
        if (reason.length > MAX_TEXT) problems.push(`${level}: the reason is longer than ${MAX_TEXT} characters`);
        levels.push({ level, decision, reason, ...(comment ? { comment } : {}) });
      } else {
        levels.push({ level, decision, ...(comment ? { comment } : {}) });
      }
    });
  }
  const comment = optionalText(body.comment);
  if (comment && comment.length > MAX_TEXT) problems.push(`the comment is longer than ${MAX_TEXT} characters`);
  if (problems.length > 0)
    throw new PipelineError('invalid-input', `The review cannot be signed: ${problems.join('; ')}`);
  return { diagnosticReport, versionId, levels, ...(comment ? { comment } : {}) };
}

/** One value per review: the same clinician saving the same decisions on the same report version. */
export function reviewKey(review: ReviewRequest, signer: string): string {
  const levels = [...review.levels]
    .sort((a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level))
    .map((level) => ({
      level: level.level,
      decision: level.decision,
      reading: level.decision === 'edit' ? (level.reading ?? null) : null,
      reason: level.decision === 'reject' ? (level.reason ?? '') : '',
      comment: level.comment ?? '',
    }));
  const canonical = JSON.stringify({
    report: review.diagnosticReport,
    versionId: review.versionId,
    signer,
    comment: review.comment ?? '',
    levels,
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

/** The signer from the session's fhirUser: a practitioner of this FHIR server, or 403. */
function signerReferenceOf(fhirUser: string | undefined, fhirBaseUrl: string): string {
  if (!fhirUser) {
    throw new PipelineError(
      'forbidden',
      'ldh-cds cannot tell who is signing: this EHR session names no user (SMART fhirUser). Re-launch ldh-cds from ' +
        'the chart signed in as the clinician.',
    );
  }
  let reference: string;
  try {
    reference = referenceToRelative(fhirBaseUrl, fhirUser).replace(/\/_history\/.*$/, '');
  } catch {
    throw new PipelineError(
      'forbidden',
      'The signed-in user is not a user of this EHR (fhirUser is on another server).',
    );
  }
  if (!/^(Practitioner|PractitionerRole)\//.test(reference)) {
    throw new PipelineError('forbidden', 'Only a practitioner can sign an analysis; the signed-in user is not one.');
  }
  return reference;
}

function nameOf(names: readonly HumanName[] | undefined): string | undefined {
  const name = names?.find((candidate) => candidate.use === 'official') ?? names?.[0];
  if (!name) return undefined;
  return name.text ?? [...(name.prefix ?? []), ...(name.given ?? []), name.family ?? ''].join(' ').trim();
}

/**
 * The signer's name, read with the user's token (the app asks for `user/Practitioner.r`, which SMART 2.x scopes to
 * Practitioner resources alone); an EHR that refuses it leaves the reference as the name; a 401 still fails.
 */
async function signerOf(fhir: FhirClient, reference: string): Promise<Signer> {
  try {
    const resource = await fhir.read<Practitioner | PractitionerRole>(reference);
    const display = resource.resourceType === 'Practitioner' ? nameOf(resource.name) : resource.practitioner?.display;
    return { reference, ...(display ? { display } : {}) };
  } catch (error) {
    if (error instanceof UpstreamRequestError && error.status === 401) throw error;
    return { reference };
  }
}

const carriesReview = (report: DiagnosticReport, key: string): boolean =>
  (report.meta?.tag ?? []).some((tag) => tag.system === REVIEW_TAG_SYSTEM && tag.code === key);

/**
 * Whether the report as it stands is the result of this exact review: its current version carries the review's tag
 * and directly follows the version the review was made on (a tag a server carried forward onto a later version does
 * not count).
 */
async function isResultOf(fhir: FhirClient, report: DiagnosticReport, review: ReviewRequest, key: string) {
  if (!carriesReview(report, key)) return false;
  const history = await readReportHistory(fhir, review.diagnosticReport);
  const current = history.findIndex((version) => version.versionId === report.meta?.versionId);
  return current >= 0 && history[current + 1]?.versionId === review.versionId;
}

async function storedAnalysisOf(fhir: FhirClient, report: DiagnosticReport & { id: string }): Promise<StoredAnalysis> {
  const analysis = analysisOfReport(report);
  if (!analysis) throw new PipelineError('unprocessable', `DiagnosticReport/${report.id} is not an ldh-cds analysis`);
  return readStoredAnalysis(
    fhir,
    { report, model: analysis.model },
    { studyInstanceUid: analysis.studyInstanceUid },
    readStructuredReportLevels,
  );
}

async function readReport(fhir: FhirClient, reference: string): Promise<DiagnosticReport & { id: string }> {
  const report = await fhir.read<DiagnosticReport>(reference);
  if (!report.id) throw new Error(`The FHIR server answered ${reference} without an id`);
  return { ...report, id: report.id };
}

/** `POST /api/analyses/review`: sign the analysis as the clinician decided it, answer it as stored. */
export async function reviewAnalysis(
  request: ReviewAnalysisRequest,
  deps: Pick<AnalyzeDependencies, 'fhirClient' | 'now'>,
): Promise<StoredAnalysis> {
  const { review } = request;
  try {
    const fhir = deps.fhirClient(request.fhirBaseUrl, request.accessToken);
    const signerReference = signerReferenceOf(request.fhirUser, fhir.baseUrl);
    const key = reviewKey(review, signerReference);
    const report = await readReport(fhir, review.diagnosticReport);
    assertOwnPatient(review.diagnosticReport, report.subject, request);
    const analysis = analysisOfReport(report);
    if (!analysis) {
      throw new PipelineError(
        'unprocessable',
        `${review.diagnosticReport} is not an ldh-cds analysis and cannot be signed here`,
      );
    }
    if (report.meta?.versionId !== review.versionId) {
      // A save repeated after its answer was lost finds its own result: answer it, write nothing.
      if (await isResultOf(fhir, report, review, key)) return await storedAnalysisOf(fhir, report);
      throw new PipelineError('conflict', CHANGED_MEANWHILE);
    }
    if (isWithdrawnReport(report)) {
      throw new PipelineError(
        'conflict',
        'This analysis was withdrawn (a newer analysis of the study replaced it) and can no longer be signed; ' +
          'reload to see the one that stands.',
      );
    }
    const { observations } = await readAnalysisResources(fhir, report);
    const assessed = observations.map(levelOf).filter((level): level is DiscLevel => level !== undefined);
    const unknown = review.levels.map((level) => level.level).filter((level) => !assessed.includes(level));
    const undecided = assessed
      .filter((level) => !review.levels.some((decided) => decided.level === level))
      .sort((a, b) => DISC_LEVELS.indexOf(a) - DISC_LEVELS.indexOf(b));
    if (unknown.length > 0 || undecided.length > 0) {
      const problems = [
        ...(undecided.length > 0 ? [`every assessed level must be decided; undecided: ${undecided.join(', ')}`] : []),
        ...(unknown.length > 0 ? [`not assessed in this analysis: ${unknown.join(', ')}`] : []),
      ];
      throw new PipelineError('invalid-input', `The review cannot be signed: ${problems.join('; ')}`);
    }
    const signing: ReviewSigning = {
      signer: await signerOf(fhir, signerReference),
      signedAt: deps.now().toISOString(),
      reviewKey: key,
      ...(review.comment ? { comment: review.comment } : {}),
    };
    const signed = signAnalysis(
      { report, baseVersionId: review.versionId, observations, model: analysis.model, decisions: review.levels },
      signing,
    );
    const versions = {
      report: review.versionId,
      observations: new Map(observations.map((observation) => [observation.id, observation.meta?.versionId])),
    };
    try {
      await writeSigning(fhir, signed, versions, key);
    } catch (error) {
      // A signing whose answer was lost (repeated by the FHIR client, then refused with 412) stands as written; one
      // that lost to someone else's change wrote nothing (a transaction is atomic). A refused session fails as it is.
      const status = error instanceof UpstreamRequestError ? error.status : undefined;
      if (status === 401 || status === 403) throw error;
      const now = await readReport(fhir, review.diagnosticReport).catch(() => undefined);
      if (now && (await isResultOf(fhir, now, review, key).catch(() => false)))
        return await storedAnalysisOf(fhir, now);
      if (status === 409 || status === 412) throw new PipelineError('conflict', CHANGED_MEANWHILE, { cause: error });
      throw error;
    }
    return await storedAnalysisOf(fhir, await readReport(fhir, review.diagnosticReport));
  } catch (error) {
    throw toPipelineError(error);
  }
}

/**
 * What makes the CDS services speak, in one configuration file (CDS_CODES_FILE, default
 * smart-config/cds-referral-codes.json, checked with zod when the server starts): the referral codes where lumbar MRI
 * findings matter, each with its code system and kind; the codes of a lumbar MRI order (the same codes name a lumbar
 * MRI study as its procedure); the body sites that make a series a lumbar spine one; and how recent a lumbar MRI must
 * be for an MRI order to be told about it. docs/fhir-mapping.md §CDS Hooks lists them with their sources.
 */
import { readFileSync } from 'node:fs';
import type { Bundle, CodeableConcept, FhirResource, ImagingStudy, ServiceRequest } from 'fhir/r4';
import { z } from 'zod';
import { DCM } from '../fhir/codes';

/** The referrals lumbar MRI findings matter for (issue 24): spine surgery, neurosurgery, orthopaedic spine, pain. */
export const REFERRAL_KINDS = ['spine-surgery', 'neurosurgery', 'orthopaedic-spine', 'pain-management'] as const;
export type ReferralKind = (typeof REFERRAL_KINDS)[number];

const codingSchema = z.strictObject({
  system: z.url(),
  code: z.string().min(1),
  display: z.string().min(1),
});

export const cdsCodesFileSchema = z.strictObject({
  /** Referral codes, matched against ServiceRequest.code and .performerType. */
  referrals: z.array(codingSchema.extend({ kind: z.enum(REFERRAL_KINDS) })).min(1),
  /** Lumbar MRI orders (ServiceRequest.code); also a lumbar MRI study's ImagingStudy.procedureCode. */
  lumbarMriOrders: z.array(codingSchema).min(1),
  /** A series with one of these body sites (and modality MR) makes a study a lumbar MRI. */
  lumbarSpineBodySites: z.array(codingSchema),
  /** An MRI order is told of a lumbar MRI at most this many days old. */
  recentLumbarMriDays: z.number().int().min(1).max(3650),
});
export type CdsCodesFile = z.infer<typeof cdsCodesFileSchema>;
export type CdsCoding = z.infer<typeof codingSchema>;

/** Reads and checks the file; an error names the file and the first bad entry (`referrals[2].kind: …`). */
export function loadCdsCodes(file: string): CdsCodesFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`Cannot read CDS_CODES_FILE ${file}: ${(error as Error).message}`);
  }
  const parsed = cdsCodesFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = (issue?.path ?? []).map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`));
    throw new Error(`Invalid CDS_CODES_FILE ${file}: ${where.join('').replace(/^\./, '')}: ${issue?.message ?? ''}`);
  }
  return parsed.data;
}

const key = (system: string | undefined, code: string | undefined): string => `${system ?? ''}|${code ?? ''}`;

/** What a draft order is, for our services. */
export type OrderTrigger =
  | { type: 'referral'; kind: ReferralKind; order: ServiceRequest & { id?: string } }
  | { type: 'lumbar-mri'; order: ServiceRequest & { id?: string } };

export interface TriggerCodes {
  /** The draft orders that trigger a card (others: none): referrals first, in the order given. */
  triggersIn(draftOrders: Bundle | undefined, selections?: readonly string[]): OrderTrigger[];
  /** An ImagingStudy of a lumbar MRI: modality MR and a lumbar MRI procedure code or a lumbar spine series. */
  isLumbarMri(study: ImagingStudy): boolean;
  recentLumbarMriDays: number;
}

export function triggerCodes(file: CdsCodesFile): TriggerCodes {
  const referrals = new Map(file.referrals.map((entry) => [key(entry.system, entry.code), entry.kind]));
  const mriOrders = new Set(file.lumbarMriOrders.map((entry) => key(entry.system, entry.code)));
  const bodySites = new Set(file.lumbarSpineBodySites.map((entry) => key(entry.system, entry.code)));
  // A coding without a system matches nothing: a bare code means nothing across code systems.
  const codings = (concept: CodeableConcept | undefined): string[] =>
    (concept?.coding ?? []).filter((coding) => coding.system && coding.code).map((c) => key(c.system, c.code));

  function classify(order: ServiceRequest): OrderTrigger | undefined {
    for (const coding of [...codings(order.code), ...(order.performerType ? codings(order.performerType) : [])]) {
      const kind = referrals.get(coding);
      if (kind) return { type: 'referral', kind, order };
    }
    return codings(order.code).some((coding) => mriOrders.has(coding)) ? { type: 'lumbar-mri', order } : undefined;
  }

  return {
    recentLumbarMriDays: file.recentLumbarMriDays,
    triggersIn(draftOrders, selections) {
      const resources = (draftOrders?.entry ?? [])
        .map((entry) => entry.resource)
        .filter((resource): resource is FhirResource => resource !== undefined);
      // order-select: the orders just selected (CDS Hooks order-select context `selections`); order-sign: all.
      const selected =
        selections && selections.length > 0
          ? resources.filter((resource) => selections.includes(`${resource.resourceType}/${resource.id ?? ''}`))
          : resources;
      const triggers = selected
        .filter((resource): resource is ServiceRequest => resource.resourceType === 'ServiceRequest')
        .map(classify)
        .filter((trigger): trigger is OrderTrigger => trigger !== undefined);
      return [...triggers.filter((t) => t.type === 'referral'), ...triggers.filter((t) => t.type === 'lumbar-mri')];
    },
    isLumbarMri(study) {
      const mr = (coding: { system?: string; code?: string } | undefined): boolean =>
        coding?.code === 'MR' && (coding.system === undefined || coding.system === DCM);
      const isMr = (study.modality ?? []).some(mr) || (study.series ?? []).some((series) => mr(series.modality));
      if (!isMr) return false;
      const procedure = (study.procedureCode ?? []).some((concept) =>
        codings(concept).some((coding) => mriOrders.has(coding)),
      );
      const lumbarSeries = (study.series ?? []).some(
        (series) => series.bodySite !== undefined && bodySites.has(key(series.bodySite.system, series.bodySite.code)),
      );
      return procedure || lumbarSeries;
    },
  };
}

/**
 * The CDS services this app offers (CDS Hooks 2.0 §Discovery), each with the prefetch templates that bring what its
 * cards are built from (patient-record.ts): the patient, their ImagingStudies (lumbar MRIs among them), our reports
 * of them and our level Observations. Templates use only the root-level context field `context.patientId`
 * (§Prefetch tokens) and the query features §Prefetch query restrictions allows (references, token equality,
 * `_sort`, `_count`).
 */
import { prefetchTemplate } from './patient-record';

export const CDS_HOOKS = ['order-select', 'order-sign', 'patient-view'] as const;
export type CdsHook = (typeof CDS_HOOKS)[number];

export interface CdsServiceDefinition {
  hook: CdsHook;
  id: string;
  title: string;
  description: string;
  prefetch: Record<string, string>;
  usageRequirements?: string;
}

const PREFETCH = {
  patient: 'Patient/{{context.patientId}}',
  studies: prefetchTemplate('studies'),
  reports: prefetchTemplate('reports'),
  observations: prefetchTemplate('observations'),
};

const USAGE =
  'Prefetch, or fhirServer with a fhirAuthorization that may search ImagingStudy, DiagnosticReport and Observation of the patient (SMART v1 .read or v2 .rs scopes). The EHR must be listed in CDS_CLIENTS_FILE and its FHIR base in EHRS_FILE.';

export const CDS_SERVICES: readonly CdsServiceDefinition[] = [
  {
    hook: 'order-select',
    id: 'ldh-cds-order-select',
    title: 'Lumbar MRI findings (MSU) at a spine referral or lumbar MRI order',
    description:
      'When a referral where lumbar MRI findings matter (spine surgery, neurosurgery, orthopaedic spine, pain management) is selected, shows the AI-graded MSU disc herniation findings of the current ldh-cds report of the latest lumbar MRI (preliminary or signed) and offers to attach it to the referral; when a lumbar MRI is ordered, says that a recent one was already analyzed. Other orders: no card.',
    prefetch: PREFETCH,
    usageRequirements: USAGE,
  },
  {
    hook: 'order-sign',
    id: 'ldh-cds-order-sign',
    title: 'Lumbar MRI findings (MSU) when a spine referral or lumbar MRI order is signed',
    description: 'When such an order is signed, the same cards as at order-select, for every draft order being signed.',
    prefetch: PREFETCH,
    usageRequirements: USAGE,
  },
  {
    hook: 'patient-view',
    id: 'ldh-cds-patient-view',
    title: 'Lumbar MRI findings (MSU) when the chart is opened',
    description:
      "A compact card with the current ldh-cds report of the patient's latest analyzed lumbar MRI; no card when there is none.",
    prefetch: PREFETCH,
    usageRequirements: USAGE,
  },
];

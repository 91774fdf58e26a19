/**
 * The CDS services this app offers (CDS Hooks 2.0 §Discovery). Prefetch templates use only root-level
 * context fields (§Prefetch tokens); `reports` fetches the patient's imaging reports so the card can be
 * built from stored findings without calling back.
 */
export interface CdsServiceDefinition {
  hook: string;
  id: string;
  title: string;
  description: string;
  prefetch: Record<string, string>;
}

const PREFETCH = {
  patient: 'Patient/{{context.patientId}}',
  reports: 'DiagnosticReport?patient=Patient/{{context.patientId}}&code=http://loinc.org|18748-4',
};

export const CDS_SERVICES: CdsServiceDefinition[] = [
  {
    hook: 'order-select',
    id: 'ldh-cds-order-select',
    title: 'Lumbar disc herniation (MSU) findings for spine referrals',
    description:
      'When a spine referral is selected, summarizes the AI-graded MSU findings of the latest lumbar MRI (preliminary, not for clinical use) and links to ldh-cds.',
    prefetch: PREFETCH,
  },
  {
    hook: 'order-sign',
    id: 'ldh-cds-order-sign',
    title: 'Lumbar disc herniation (MSU) findings at referral signing',
    description:
      'When a spine referral is signed, summarizes the AI-graded MSU findings of the latest lumbar MRI and links to ldh-cds.',
    prefetch: PREFETCH,
  },
];

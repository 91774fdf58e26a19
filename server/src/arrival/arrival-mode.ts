/**
 * How the watcher learns that a study arrived (ANALYZE_ON_ARRIVAL, docs/deploy.md §Analyze on arrival):
 * - `off`: it does not run (the default: a site decides to analyze every lumbar MRI);
 * - `poll`: it reads `ImagingStudy?_lastUpdated=ge<cursor>&_sort=_lastUpdated` every ARRIVAL_POLL_INTERVAL_S;
 * - `subscription`: it registers a FHIR R4 rest-hook Subscription and reads at each notification (and every
 *   ARRIVAL_RECHECK_INTERVAL_S); an EHR that offers none is polled, with a warning;
 * - `auto`: a Subscription when the EHR's CapabilityStatement offers one, else polling, without a warning.
 * Either way the read is the same one, from the same cursor: a notification only says "read now".
 */
export const ARRIVAL_MODES = ['off', 'poll', 'subscription', 'auto'] as const;
export type ArrivalMode = (typeof ARRIVAL_MODES)[number];

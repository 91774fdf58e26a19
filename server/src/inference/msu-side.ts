/**
 * The side of a herniation (docs/msu.md §Side: left / right / central, reported beside the MSU class), in one
 * place so that the synthetic ground truth and the pipeline apply the same rule.
 *
 * MSU defines no numeric threshold for "central". We call a herniation central when it straddles the canal
 * midline in a balanced way — the smaller of its two parts either side of the midline is at least half the
 * larger — and otherwise give the side that holds most of it. The rule needs only the midline, not the facet
 * distance, so it also works when a model predicts no intra-facet line.
 */
import type { HerniationSide } from '../findings/findings';

export const CENTRAL_BALANCE = 0.5;

/**
 * @param start, end the herniation's lateral extent along the image row (any unit, e.g. pixels)
 * @param midline the canal midline in the same unit
 * @param higherIsPatientLeft true when increasing coordinates run toward the patient's left
 *   (ImageOrientationPatient row cosine x > 0 in LPS, the usual radiological display)
 */
export function sideOfSpan(start: number, end: number, midline: number, higherIsPatientLeft: boolean): HerniationSide {
  const lower = Math.max(0, midline - Math.min(start, end));
  const higher = Math.max(0, Math.max(start, end) - midline);
  const larger = Math.max(lower, higher);
  if (larger === 0 || Math.min(lower, higher) >= CENTRAL_BALANCE * larger) return 'central';
  return higher > lower === higherIsPatientLeft ? 'left' : 'right';
}

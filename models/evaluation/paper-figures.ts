/**
 * The seed paper's published figures (Xu et al., J Magn Reson Imaging 2024, doi 10.1002/jmri.29403), as listed in
 * docs/msu.md §The seed study — the one place in code they live, for the side-by-side table of `npm run eval`.
 */
import type { Task } from './evaluate';

export interface PaperFigures {
  meanIoU: number;
  recall: number;
  ac1: number;
  sensitivity: number;
  specificity: number;
}

export const PAPER_FIGURES: Record<'internal' | 'external', Record<Task, PaperFigures>> = {
  internal: {
    grading: { meanIoU: 0.84, recall: 0.996, ac1: 0.81, sensitivity: 0.87, specificity: 0.955 },
    localization: { meanIoU: 0.82, recall: 0.995, ac1: 0.76, sensitivity: 0.84, specificity: 0.944 },
  },
  external: {
    grading: { meanIoU: 0.72, recall: 0.98, ac1: 0.69, sensitivity: 0.772, specificity: 0.923 },
    localization: { meanIoU: 0.71, recall: 0.976, ac1: 0.66, sensitivity: 0.767, specificity: 0.918 },
  },
};

/** The paper's surgeons against the expert, internal test set (AC1 only). */
export const PAPER_SURGEON_AC1: Record<Task, [number, number]> = {
  grading: [0.88, 0.86],
  localization: [0.82, 0.83],
};

/**
 * Interpretability check (issue 5; the aim of the seed paper): when the model gives the intra-facet line, the
 * MSU class that follows geometrically from its box and that line (docs/msu.md §The rules we implement) is compared
 * with the class the classifier chose. A disagreement becomes a warning on the findings, so the clinician looks at that
 * key slice before confirming. A manifest may instead have the measured class reported (`classFrom: "geometry"`).
 */
import {
  levelFindingToReportLine,
  type HerniationLevelFinding,
  type LevelFinding,
  type PixelPoint,
} from '../findings/findings';
import { classifyMsu, measurePoints, type MsuClass } from './msu-geometry';

/**
 * The box spans the herniation from the posterior disc margin to its deepest point (how the ground truth and the
 * detector define it): the margin is the middle of the box edge farther from the intra-facet line.
 */
export function geometricMsuClass(finding: HerniationLevelFinding): MsuClass | undefined {
  const line = finding.intraFacetLine;
  if (!line) return undefined;
  const [x0, y0, x1, y1] = finding.box;
  const [[ax, ay], [bx, by]] = line;
  const distanceToLine = ([x, y]: PixelPoint): number =>
    Math.abs((bx - ax) * (ay - y) - (ax - x) * (by - ay)) / Math.hypot(bx - ax, by - ay);
  const topMid: PixelPoint = [(x0 + x1) / 2, y0];
  const bottomMid: PixelPoint = [(x0 + x1) / 2, y1];
  const margin = distanceToLine(topMid) >= distanceToLine(bottomMid) ? topMid : bottomMid;
  const corners: PixelPoint[] = [
    [x0, y0],
    [x1, y0],
    [x0, y1],
    [x1, y1],
  ];
  return classifyMsu(measurePoints(corners, margin, line));
}

export type MsuClassSource = 'classifier' | 'geometry';

/**
 * Reconciles each herniation's class with the MSU geometry of its box and facet points. With `classifier` (the
 * manifest default), the classifier's class is reported and a disagreement becomes a warning. With `geometry`
 * (manifest `classFrom`), the measured class is reported — MSU is defined by these measurements (docs/msu.md §Size
 * grade), and a precise box makes them more reliable than a classifier's reading of the whole slice — and the warning
 * names what the classifier scored instead; where the facet points were not found the classifier's class stands, and a
 * warning says so.
 */
export function reconcileMsuClass(
  levels: readonly LevelFinding[],
  classFrom: MsuClassSource = 'classifier',
): { levels: LevelFinding[]; warnings: string[] } {
  const warnings: string[] = [];
  const withWarning = (finding: LevelFinding, warning: string, extra: Partial<HerniationLevelFinding> = {}) => {
    warnings.push(warning);
    return { ...finding, ...extra, warnings: [...(finding.warnings ?? []), warning] } as LevelFinding;
  };
  const reconciled = levels.map((finding): LevelFinding => {
    if (!finding.herniation) return finding;
    const measured = geometricMsuClass(finding);
    if (!measured) {
      if (classFrom !== 'geometry') return finding;
      return withWarning(
        finding,
        `${levelFindingToReportLine(finding)}: the facet edges were not found on the key slice, so the class is the ` +
          "classifier's alone — review the key slice before confirming",
      );
    }
    if (measured.grade === finding.grade && measured.zone === finding.zone) return finding;
    if (classFrom === 'classifier') {
      return withWarning(
        finding,
        `${levelFindingToReportLine(finding)}: the box and facet points measure ${measured.grade}-${measured.zone} ` +
          'by the MSU rules — review the key slice before confirming',
        { disagreement: { measuredBy: 'geometry', grade: measured.grade, zone: measured.zone } },
      );
    }
    const reported = { ...finding, grade: measured.grade, zone: measured.zone };
    return withWarning(
      reported,
      `${levelFindingToReportLine(reported)}: measured from the box and facet points by the MSU rules; the classifier ` +
        `scored ${finding.grade}-${finding.zone} — review the key slice before confirming`,
      { disagreement: { measuredBy: 'classifier', grade: finding.grade, zone: finding.zone } },
    );
  });
  return { levels: reconciled, warnings };
}

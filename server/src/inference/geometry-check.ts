/**
 * Interpretability check (issue 5; the aim of the seed paper): when the model gives the intra-facet line, the
 * MSU class that follows geometrically from its box and that line (REFERENCE.md §1) is compared with the class the
 * classifier chose. A disagreement becomes a warning on the findings, so the clinician looks at that key slice
 * before confirming.
 */
import { levelFindingToReportLine, type HerniationLevelFinding, type LevelFinding, type PixelPoint } from './findings';
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

export function geometryDisagreements(levels: readonly LevelFinding[]): string[] {
  const warnings: string[] = [];
  for (const finding of levels) {
    if (!finding.herniation) continue;
    const geometric = geometricMsuClass(finding);
    if (!geometric || (geometric.grade === finding.grade && geometric.zone === finding.zone)) continue;
    warnings.push(
      `${levelFindingToReportLine(finding)}: the box and facet points measure ${geometric.grade}-${geometric.zone} ` +
        'by the MSU rules — review the key slice before confirming',
    );
  }
  return warnings;
}

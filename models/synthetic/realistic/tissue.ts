/**
 * The T2 signal at one point of one level's anatomy (see anatomy.ts for the frame). Structures are painted back to
 * front with sub-pixel coverage (`cover`), so thin structures — dura, nerve roots, joint lines — keep their
 * partial-volume greys at every matrix size; the slab's thickness blends disc and endplate along the spine.
 */
import type { LevelAnatomy, PatientAnatomy } from './anatomy';
import type { Textures } from './texture';

export interface SampleContext {
  patient: PatientAnatomy;
  textures: Textures;
  /** In-plane pixel size (mm): the width of the soft edges. */
  pixelMm: number;
  /** Slice thickness (mm): partial volume along the spine. */
  slabMm: number;
}

function clamp01(value: number): number {
  return value < 0 ? 0 : value > 1 ? 1 : value;
}
function mix(from: number, to: number, amount: number): number {
  return from + (to - from) * amount;
}

/** Euclidean length (Math.hypot is several times slower in V8). */
function len(dx: number, dy: number): number {
  return Math.sqrt(dx * dx + dy * dy);
}

/** Share of a pixel of size px covered by a shape at signed distance d (negative inside). */
function cov(px: number, d: number): number {
  const value = 0.5 - d / px;
  return value < 0 ? 0 : value > 1 ? 1 : value;
}

/** Approximate signed distance to an axis-aligned ellipse (negative inside), first order in the level set. */
function ellipseDistance(x: number, y: number, rx: number, ry: number): number {
  const qx = x / rx;
  const qy = y / ry;
  const q = qx * qx + qy * qy;
  const gx = qx / rx;
  const gy = qy / ry;
  const gradient = Math.sqrt(gx * gx + gy * gy) + 1e-9;
  const root = Math.sqrt(q);
  return ((root - 1) * root) / gradient;
}

function rotatedEllipseDistance(
  x: number,
  y: number,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  cos: number,
  sin: number,
): number {
  const dx = x - cx;
  const dy = y - cy;
  return ellipseDistance(dx * cos + dy * sin, -dx * sin + dy * cos, rx, ry);
}

/** Distance to the segment (ax, ay)–(bx, by). */
function segmentDistance(x: number, y: number, ax: number, ay: number, bx: number, by: number): number {
  const vx = bx - ax;
  const vy = by - ay;
  const t = clamp01(((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy));
  return len(x - ax - t * vx, y - ay - t * vy);
}

/**
 * Disc and vertebral body outline: a superellipse with a posterior concavity, its posterior border on y = 0.
 * Returns the normalised radius (1 on the outline) or Infinity when cut by the posterior border.
 */
export function discRadius(level: LevelAnatomy, x: number, y: number, grow: number): number {
  const a = level.discHalfWidth + grow;
  const b = level.discDepth / 2 + grow;
  const cy = -level.discDepth / 2;
  // Outside the bounding box the radius is only needed as 'outside'.
  if (x > a + 4 || x < -a - 4 || y < cy - b - 4 || y > grow) return Infinity;
  const notch = level.discNotch * Math.exp(-((x / (0.45 * level.discHalfWidth)) ** 2));
  if (y > grow - notch) return Infinity;
  const p = level.discPower;
  return (Math.abs(x / a) ** p + Math.abs((y - cy) / b) ** p) ** (1 / p);
}

/** Where the herniation is (0–1 coverage) at (x, y, z) of its level. */
export function herniationCoverage(level: LevelAnatomy, x: number, y: number, z: number, pixelMm: number): number {
  const h = level.herniation;
  if (!h) return 0;
  const dz = (z - h.centreZ) / h.halfHeight;
  if (dz <= -1 || dz >= 1) return 0;
  const f = Math.sqrt(1 - dz * dz);
  const depth = h.depth * f;
  if (y < -2.5 || y > depth + pixelMm) return 0;
  const halfWidth = h.halfWidth * (0.55 + 0.45 * f);
  const t = y <= 0 ? 0 : y / depth;
  if (t >= 1) return 0;
  const centre = h.centreX + h.tipShift * t;
  const width = halfWidth * (1 - t ** 2.6) ** (1 / 2.6);
  return clamp01(0.5 - (Math.abs(x - centre) - width) / pixelMm);
}

function boneValue(distance: number, context: SampleContext, marrowTexture: number): number {
  const c = context.patient.contrast;
  // Cortex ~1.2 mm, marrow inside.
  return mix(c.cortex, c.marrow * (0.75 + 0.5 * marrowTexture), clamp01(0.5 - (distance + 1.2) / context.pixelMm));
}

/** Signal relative to CSF at (x, y) of the level frame, at distance z from the disc mid-plane. */
export function sampleTissue(level: LevelAnatomy, x: number, y: number, z: number, context: SampleContext): number {
  const soft = sampleSoftTissue(level, x, y, context);
  return isNearSpine(level, x, y) ? sampleSpine(level, x, y, z, soft, context) : soft;
}

/** Whether (x, y) lies in the region the spine's structures can reach (outside it only soft tissue shows). */
export function isNearSpine(level: LevelAnatomy, x: number, y: number): boolean {
  return (
    Math.abs(x) < level.discHalfWidth + 72 &&
    y > -level.discDepth - 8 - level.bulge &&
    y < level.laminaY + level.spinousLength + 6
  );
}

/**
 * Everything that does not change along the spine within one level: body wall, subcutaneous fat, bowel, great
 * vessels, kidneys, psoas, quadratus lumborum, iliac wings, paraspinal muscles.
 */
export function sampleSoftTissue(level: LevelAnatomy, x: number, y: number, context: SampleContext): number {
  const { patient, textures, pixelMm: px } = context;
  const c = patient.contrast;
  const ax = Math.abs(x);
  const halfWidth = level.discHalfWidth;
  const depth = level.discDepth;

  // Body outline: skin, subcutaneous fat, then the muscle-and-viscera core.
  const posteriorSkin = level.laminaY + patient.paraspinalDepth + patient.fatPosterior + 8;
  const bodyCy = (posteriorSkin + patient.anteriorSkinY) / 2;
  const bodyRy = (posteriorSkin - patient.anteriorSkinY) / 2;
  const dBody = ellipseDistance(x, y - bodyCy, patient.bodyHalfWidth, bodyRy);
  if (dBody > px) return 0;
  let v = c.skin * cov(px, dBody);
  v = mix(v, c.fat * (0.94 + 0.08 * textures.medium.at(x, y)), cov(px, dBody + 1.8));
  const fatAp = (patient.fatAnterior + patient.fatPosterior) / 2;
  const coreCy = bodyCy + (patient.fatAnterior - patient.fatPosterior) / 2;
  const dCore = ellipseDistance(x, y - coreCy, patient.bodyHalfWidth - patient.fatLateral, bodyRy - fatAp);
  if (dCore < px) {
    // Abdominal wall muscles, then retroperitoneal fat; bowel in front of the retroperitoneum.
    const wallShare = Math.max(clamp01(-y / 20), clamp01((ax - patient.paraspinalHalfWidth - 25) / 15));
    v = mix(v, c.muscle * (0.9 + 0.2 * textures.fine.at(x, y)), cov(px, dCore) * wallShare);
    v = mix(v, c.fat * 0.92, cov(px, dCore + 9));
    const retroHalfWidth = halfWidth + 2 * level.psoas.rx + 28;
    const front = -depth - 14 + Math.min(1, (x / retroHalfWidth) ** 2) * (depth + 14);
    const bowelShare = clamp01((front - y) / 4) * cov(px, dCore + 11);
    if (bowelShare > 0) {
      // Loops (contours of smooth noise) in mesenteric fat, with walls, fluid or faecal content and a little gas.
      const loops = textures.loops.at(x, y);
      const content = 0.6 * textures.coarse.at(x * 0.8, y * 0.8) + 0.4 * textures.medium.at(y, x);
      const lumen = mix(
        c.flowVoid,
        mix(c.bowel * 0.8, c.csf * 0.75, clamp01((content - 0.4) * 1.5)),
        clamp01((content - 0.12) * 15),
      );
      const wall = c.muscle * 1.4;
      const bowel =
        loops < 0.41
          ? mix(c.fat * 0.85, wall, clamp01((loops - 0.39) / 0.02))
          : mix(wall, lumen, clamp01((loops - 0.41) / 0.025));
      v = mix(v, bowel, bowelShare);
    }
  }

  // Kidneys (upper levels), posterolateral.
  if (level.index <= 1) {
    const shrink = level.index === 1 ? 0.7 : 1;
    const dKidney = rotatedEllipseDistance(ax, y, halfWidth + 48, -2, 20 * shrink, 32 * shrink, 0.87, -0.5);
    if (dKidney < px) v = mix(v, mix(c.kidney * 1.25, c.kidney * 0.8, clamp01(-dKidney / 7)), cov(px, dKidney));
  }

  // Great vessels: aorta (patient left) and IVC above the bifurcation, iliac vessels below.
  const front = -depth - 3;
  if (level.index <= 2) {
    v = mix(v, c.flowVoid, cov(px, len(x - halfWidth * 0.3, y - front + 7) - 9.5));
    v = mix(v, c.flowVoid * 4, cov(px, ellipseDistance(x + halfWidth * 0.5, y - front + 5, 12, 7)));
  } else {
    const spread = level.index === 3 ? 13 : halfWidth + 4;
    const lift = level.index === 3 ? 6 : -6;
    v = mix(v, c.flowVoid, cov(px, len(ax - spread, y - front + lift) - 5.5));
    v = mix(v, c.flowVoid * 4, cov(px, ellipseDistance(ax - spread + 3, y - front + lift - 9, 7, 5)));
  }

  // Psoas either side of the disc; quadratus lumborum behind the transverse processes (not at L5-S1).
  const dPsoas = ellipseDistance(ax - level.psoas.x, y - level.psoas.y, level.psoas.rx, level.psoas.ry);
  if (dPsoas < px)
    v = mix(v, muscle(c.muscle, textures.fine.at(x, y), textures.streak.at(x, y), 0.05), cov(px, dPsoas));
  if (level.index <= 3) {
    const dQl = rotatedEllipseDistance(ax, y, halfWidth + 40, level.facetY, 21, 11, 0.94, 0.34);
    if (dQl < px) v = mix(v, muscle(c.muscle, textures.fine.at(x, y), textures.streak.at(x, y), 0.05), cov(px, dQl));
  }

  // Iliac wings with iliacus in front and gluteus medius lateral (L5-S1).
  if (level.index === 4) {
    const cx = halfWidth + 50;
    const dGluteus = rotatedEllipseDistance(ax, y, cx + 18, 18, 20, 40, 0.64, 0.77);
    if (dGluteus < px)
      v = mix(v, muscle(c.muscle, textures.fine.at(x, y), textures.streak.at(x, y), 0.3), cov(px, dGluteus));
    const dIliacus = rotatedEllipseDistance(ax, y, cx - 11, -6, 9, 24, 0.64, 0.77);
    if (dIliacus < px)
      v = mix(v, muscle(c.muscle, textures.fine.at(x, y), textures.streak.at(x, y), 0.05), cov(px, dIliacus));
    const dIlium = rotatedEllipseDistance(ax, y, cx, 10, 6.5, 42, 0.64, 0.77);
    if (dIlium < px) v = mix(v, boneValue(dIlium, context, textures.medium.at(x, y)), cov(px, dIlium));
  }

  // Paraspinal muscles: multifidus beside the spinous process, erector spinae lateral to it, a fat plane between.
  const deep = patient.paraspinalDepth;
  const mfRx = 10 + 0.08 * patient.paraspinalHalfWidth;
  const mfRy = deep * 0.5 + 4;
  const dMultifidus = ellipseDistance(ax - 3.5 - mfRx, y - level.laminaY - mfRy * 0.62, mfRx, mfRy);
  const esRx = patient.paraspinalHalfWidth * 0.5;
  const esRy = deep * 0.48;
  const esCx = 3.5 + mfRx * 1.5 + esRx * 0.6;
  const dErector = ellipseDistance(ax - esCx, y - level.laminaY - esRy * 0.5, esRx, esRy);
  const dPara = Math.min(dMultifidus, dErector);
  if (dPara < px) {
    const fatty = 0.1 + 0.6 * patient.muscleFat;
    let para = muscle(c.muscle, textures.fine.at(x, y), textures.medium.at(x * 0.8, y * 1.4), fatty);
    // The fat plane where the two muscles meet.
    if (dErector < 0 && dMultifidus > -3) para = mix(para, c.fat * 0.75, cov(px, Math.abs(dMultifidus) - 0.5) * 0.9);
    v = mix(v, para, cov(px, dPara));
    // Thoracolumbar fascia: a thin dark line on the posterior surface.
    if (y > level.laminaY + 10) v = mix(v, c.ligament, cov(px, Math.abs(dPara + 0.7) - 0.45) * 0.6);
  }
  return v;
}

/** Muscle with fine texture and fatty septa (contour lines of the streak noise), more with fatty infiltration. */
function muscle(base: number, fine: number, streak: number, fatty: number): number {
  // Thin fat streaks along one level set of smooth noise; more and brighter with fatty infiltration.
  const septa = clamp01(1 - Math.abs(streak - 0.62) / (0.006 + 0.02 * fatty));
  return base * (0.9 + 0.2 * fine) + septa * fatty * 0.7;
}

/** Adds the spine (disc or vertebral body, canal, posterior elements, herniation) over the soft tissue value. */
export function sampleSpine(
  level: LevelAnatomy,
  x: number,
  y: number,
  z: number,
  soft: number,
  context: SampleContext,
): number {
  const { patient, textures, pixelMm: px } = context;
  const c = patient.contrast;
  const ax = Math.abs(x);
  const zt = z * 0.6;
  const caudal = (level.index + 1) / 5;
  let v = soft;
  const discHalf = level.discHalfHeight;
  const absZ = Math.abs(z);
  const pedicleLevel = z < -discHalf - 2.5;
  const laminaPresent = z > 0.5 || z < -discHalf - 5;
  const facetPresent = z > -discHalf - 8 && z < discHalf + 11;

  // Foramen (disc level and above): fat with the exiting root's ganglion.
  if (
    !pedicleLevel &&
    ax > level.facetX - 6 &&
    ax < level.facetX + 16 &&
    y > -level.facetY * 0.3 - 5 &&
    y < level.facetY + 5
  ) {
    const dForamen = ellipseDistance(ax - level.facetX - 5, y - level.facetY * 0.35, 9, level.facetY * 0.55 + 3);
    v = mix(v, c.fat, cov(px, dForamen));
    if (z > 0.5) {
      const dGanglion = ellipseDistance(ax - level.facetX - 9, y - level.facetY + 8, 3.2, 2.6);
      v = mix(v, c.root * 1.1, cov(px, dGanglion));
    }
  }

  // Bony canal filled with epidural fat: widest in the lateral recesses, narrowing to the spinous process.
  if (y > -1 && y < level.laminaY + 1) {
    // Lateral recesses reach past the facet edges in front of the facets; behind them the canal narrows.
    const halfWidth =
      y < level.facetY
        ? level.facetX + 3 - 2 * (y / level.facetY)
        : mix(level.facetX + 1, 2, (y - level.facetY) / (level.laminaY - level.facetY));
    v = mix(v, c.fat * 0.95, cov(px, ax - halfWidth));
  }

  // Transverse processes / sacral ala at the pedicle level of the lower vertebra.
  if (z < -discHalf - 4) {
    if (level.index === 4) {
      const dAla = ellipseDistance(ax - level.discHalfWidth - 14, y + level.discDepth * 0.42, 28, 15);
      v = mix(v, boneValue(dAla, context, textures.medium.at(x, y + zt)), cov(px, dAla));
    } else if (y > level.facetY - 16 && y < level.facetY + 6) {
      const dTransverse =
        segmentDistance(ax, y, level.facetX + 6, level.facetY - 3, level.facetX + 42 + 6 * caudal, level.facetY - 8) -
        3.5;
      v = mix(v, boneValue(dTransverse, context, textures.medium.at(x, y + zt)), cov(px, dTransverse));
    }
  }

  // Disc (or vertebral body off the disc), blended across the slab; diffuse bulge only in the disc.
  const discShare = clamp01((discHalf - absZ) / context.slabMm + 0.5);
  const rDisc = discRadius(level, x, y, level.bulge * discShare);
  const rBody = discRadius(level, x, y, -0.6);
  if (rDisc < 1.15 || rBody < 1.15) {
    const size = Math.min(level.discHalfWidth, level.discDepth / 2);
    const discCover = rDisc === Infinity ? 0 : cov(px, (rDisc - 1) * size);
    const bodyCover = rBody === Infinity ? 0 : cov(px, (rBody - 1) * size);
    const nucleusShare = clamp01((0.78 - rDisc) / 0.25) * clamp01((discHalf - absZ) / 2.5);
    const nucleus = mix(c.nucleus * (0.9 + 0.2 * textures.medium.at(x, y)), c.annulus * 1.6, level.degeneration);
    const disc = mix(c.annulus * (0.8 + 0.35 * textures.fine.at(x * 2, y)), nucleus, nucleusShare);
    const cortexShare = clamp01((rBody - 0.93) / 0.05);
    const marrow = c.marrow * (0.7 + 0.6 * textures.medium.at(x + zt, y - zt)) * (1 - 0.25 * textures.coarse.at(y, x));
    let body = mix(marrow, c.cortex, cortexShare);
    // Basivertebral vein: a bright notch in the middle of the posterior body.
    if (absZ > discHalf + 3) body = mix(body, c.csf * 0.7, cov(px, ellipseDistance(x, y + 4.5, 2.5, 3.5)));
    const endplate = Math.exp(-(((absZ - discHalf) / (0.8 + context.slabMm / 4)) ** 2));
    const inside = mix(body * bodyCover, disc * discCover, discShare) * (1 - 0.55 * endplate);
    const coverage = mix(bodyCover, discCover, discShare);
    v = mix(v, coverage > 0 ? inside / coverage : v, coverage);
  }

  // Thecal sac: dark dura, bright CSF, dark roots; trefoil-ish at the lower levels.
  const sacDy = y - level.sacY;
  const narrowing = 1 - 0.18 * caudal * clamp01(sacDy / level.sacHalfDepth);
  const dSac =
    ax < level.sacHalfWidth + 2 && Math.abs(sacDy) < level.sacHalfDepth + 2
      ? ellipseDistance(x, sacDy, level.sacHalfWidth * narrowing, level.sacHalfDepth)
      : Infinity;
  if (dSac < px) {
    v = mix(v, c.ligament, cov(px, dSac));
    v = mix(v, c.csf * (0.97 + 0.06 * textures.coarse.at(x, y + zt)), cov(px, dSac + 0.45));
    if (level.conus && z > -discHalf) {
      v = mix(v, c.cord, cov(px, ellipseDistance(x, sacDy - 1, 4.8, 3.8)));
    } else {
      for (const [rx, ry, size] of level.roots) {
        const d = len(x - rx * level.sacHalfWidth, sacDy - ry * level.sacHalfDepth) - 0.75 * size;
        if (d < px) v = mix(v, c.root, cov(px, d));
      }
    }
    if (level.index >= 2) {
      // Traversing roots in the anterolateral sac.
      const d = len(ax - level.sacHalfWidth + 2.2, sacDy + level.sacHalfDepth * 0.55) - 1.3;
      v = mix(v, c.root, cov(px, d));
    }
  }

  // Ligamentum flavum along the posterolateral canal, from the facet capsule to the midline.
  if (facetPresent && z > -discHalf - 5 && ax < level.facetX + 6 && y > level.facetY - 6 && y < level.laminaY + 3) {
    const dFlavum =
      segmentDistance(ax, y, level.facetX + 0.5, level.facetY - 1.5, 1.2, level.laminaY - 1) -
      level.flavumThickness / 2;
    v = mix(v, c.ligament * (0.9 + 0.3 * textures.fine.at(x, y)), cov(px, dFlavum));
  }

  // Herniated disc material, displacing CSF and epidural fat.
  const herniation = herniationCoverage(level, x, y, z, px);
  if (herniation > 0) {
    const signal = (level.herniation?.signal ?? 0.5) * (0.9 + 0.2 * textures.fine.at(x * 1.5, y));
    v = mix(v, signal, herniation);
  }

  // Pedicles closing the canal laterally at the lower vertebra's pedicle level.
  if (pedicleLevel && y > -12 && y < level.facetY + 6 && ax < level.discHalfWidth * 0.55 + 6) {
    const dPedicle = segmentDistance(ax, y, level.discHalfWidth * 0.55, -5, level.facetX + 4, level.facetY - 1) - 4.2;
    v = mix(v, boneValue(dPedicle, context, textures.medium.at(x, y + zt)), cov(px, dPedicle));
  }

  // Facet joints: articular processes with a fluid-bright joint line between dark cartilage.
  if (facetPresent && Math.abs(ax - level.facet.centre[0]) < 14 && Math.abs(y - level.facet.centre[1]) < 14) {
    const { centre, semiAxes, angleDeg } = level.facet;
    const angle = (angleDeg * Math.PI) / 180;
    // Long axis along the joint: from anteromedial to posterolateral.
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const dx = ax - centre[0];
    const dy = y - centre[1];
    const along = dx * sin + dy * cos;
    const across = dx * cos - dy * sin;
    const dFacet = ellipseDistance(across, along, semiAxes[0], semiAxes[1]);
    if (dFacet < px) {
      let facet = boneValue(dFacet, context, textures.medium.at(x + zt, y));
      const joint = Math.abs(across - 0.15 * along);
      facet = mix(facet, c.cartilage, cov(px, joint - 1.3) * cov(px, dFacet + 1.5));
      facet = mix(facet, c.facetFluid, cov(px, joint - 0.45) * cov(px, dFacet + 1.5));
      v = mix(v, facet, cov(px, dFacet));
    }
  }

  // Laminae and spinous process (bone), or the interspinous ligament between them.
  if (laminaPresent && y > level.facetY - 3 && ax < level.facet.centre[0] + 6) {
    const [fx, fy] = level.facet.centre;
    const dLamina = segmentDistance(ax, y, fx - 1, fy + 4, 0, level.laminaY + 2.5) - 3.6;
    const dSpinous =
      segmentDistance(ax, y, 0, level.laminaY + 1, 0, level.laminaY + level.spinousLength) -
      mix(4.2, 2.8, clamp01((y - level.laminaY) / level.spinousLength));
    const d = Math.min(dLamina, dSpinous);
    if (d < px) v = mix(v, boneValue(d, context, textures.medium.at(x + zt, y)), cov(px, d));
  } else if (!laminaPresent && y > level.laminaY && y < level.laminaY + level.spinousLength) {
    v = mix(v, c.fat * 0.85, cov(px, ax - 3.5));
    v = mix(v, c.ligament, cov(px, ax - 1));
  }
  return v;
}

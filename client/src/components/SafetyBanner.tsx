export const PRELIMINARY_TEXT = 'AI output is preliminary until a clinician confirms it';
export const DEMO_MODEL_TEXT = 'not for clinical use — synthetic-trained demo model';
export const SAFETY_TEXT = `${PRELIMINARY_TEXT} · ${DEMO_MODEL_TEXT}`;

/**
 * Always on screen, above everything else the app shows. The not-for-clinical-use notice stays while the bundled
 * demo model runs (`bundled` from `GET /api/model`) — and whenever that is not known, so it is never missing wrongly.
 */
export function SafetyBanner({ demoModel = true }: { demoModel?: boolean }) {
  return (
    <div className="safety-banner" data-testid="safety-banner" role="note" aria-label="Safety notice">
      <span className="safety-icon" aria-hidden="true">
        ⚠
      </span>
      {demoModel ? SAFETY_TEXT : PRELIMINARY_TEXT}
    </div>
  );
}

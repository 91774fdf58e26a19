export const SAFETY_TEXT =
  'AI output is preliminary until a clinician confirms it · not for clinical use — synthetic-trained demo model';

/** Always on screen, above everything else the app shows. */
export function SafetyBanner() {
  return (
    <div className="safety-banner" data-testid="safety-banner" role="note" aria-label="Safety notice">
      <span className="safety-icon" aria-hidden="true">
        ⚠
      </span>
      {SAFETY_TEXT}
    </div>
  );
}

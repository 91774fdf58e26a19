import { rememberedLaunchUrl, tabStorage } from '../session-storage';

interface ReauthorizeBoxProps {
  title: string;
  message: string;
}

/**
 * The SMART session is gone (token expired and not refreshable): a SMART app cannot sign in again silently, so
 * "Re-authorize" re-runs this tab's EHR launch (launch.html kept its URL) in the same window; the launch comes back
 * to the panel, which restores what the clinician had not yet saved. Without a kept launch URL, the only way back
 * is a relaunch from the chart, and the box says so.
 */
export function ReauthorizeBox({ title, message }: ReauthorizeBoxProps) {
  const launchUrl = rememberedLaunchUrl(tabStorage(), window.location.origin);
  return (
    <div className="error-box" role="alert" data-testid="reauthorize">
      <strong className="error-title">{title}</strong>
      <span className="error-message">{message}</span>
      {launchUrl ? (
        <span className="error-actions">
          <button
            type="button"
            className="primary"
            data-testid="reauthorize-button"
            onClick={() => {
              window.location.assign(launchUrl);
            }}
          >
            Re-authorize
          </button>
          <span className="hint">Signs you in to the EHR again in this window; nothing you entered is lost.</span>
        </span>
      ) : (
        <span className="error-message" data-testid="relaunch-hint">
          Relaunch ldh-cds from the patient&apos;s chart in the EHR. Your unsigned decisions are kept in this browser
          tab and come back when you open this study again.
        </span>
      )}
    </div>
  );
}

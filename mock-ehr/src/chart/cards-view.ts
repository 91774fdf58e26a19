/**
 * Renders CDS Hooks cards in the chart (CDS Hooks 2.0 §Card attributes): indicator, summary, markdown detail,
 * source, links (absolute open in a new window; SMART links go through the EHR, which registers a launch with the
 * card's appContext), suggestions as buttons that apply their actions to the draft order, and override reasons.
 */
import type { CdsCard } from '../cds-hooks/cds-client';
import { html, type SafeHtml } from './html';
import { renderMarkdown } from './markdown';

export interface RenderedCard {
  serviceId: string;
  card: CdsCard & { uuid: string };
  outcome?: 'accepted' | 'overridden';
  /** What the clinician did, in words: the suggestion accepted, or the override's reason. */
  outcomeText?: string;
}

/**
 * The cards of one hook call, their forms and links under `sessionPath` (`/orders/{id}` for order entry,
 * `/visits/{id}` for a chart opened), `/cards/{uuid}/…` below it.
 */
export function renderCards(sessionPath: string, cards: RenderedCard[], errors: string[]): SafeHtml {
  if (cards.length === 0 && errors.length === 0)
    return html`<p class="muted" id="no-cards">No decision support cards.</p>`;
  return html`<section aria-label="Decision support" class="cards">
    ${errors.map((error) => html`<p class="card-error" role="alert">${error}</p>`)}
    ${cards.map((item) => renderCard(sessionPath, item))}
  </section>`;
}

function renderCard(sessionPath: string, { serviceId, card, outcome, outcomeText }: RenderedCard): SafeHtml {
  const base = `${sessionPath}/cards/${encodeURIComponent(card.uuid)}`;
  const links = (card.links ?? []).map((link, index) =>
    link.type === 'smart'
      ? html`<a class="button cds-link cds-link-smart" href="${base}/links/${index}" target="_blank" rel="opener"
          >${link.label}</a
        >`
      : html`<a
          class="button cds-link cds-link-absolute"
          href="${safeUrl(link.url)}"
          target="_blank"
          rel="noopener noreferrer"
          >${link.label}</a
        >`,
  );
  const suggestions = (card.suggestions ?? []).map(
    (suggestion, index) =>
      html`<form method="post" action="${base}/accept" class="inline">
        <input type="hidden" name="suggestion" value="${suggestion.uuid ?? String(index)}" />
        <button class="button cds-suggestion" type="submit" ${outcome ? html`disabled` : html``}>
          ${suggestion.label}
        </button>
      </form>`,
  );
  // Dismissing asks why (CDS Hooks overrideReasons: "The CDS Client SHOULD present these reasons to the clinician
  // when they dismiss a card"): one reason must be chosen when the card offers any; a comment is optional.
  const reasons = card.overrideReasons ?? [];
  const dismiss = html`<details class="cds-override">
    <summary class="button secondary cds-dismiss">Dismiss…</summary>
    <form method="post" action="${base}/override" class="cds-override-form">
      ${
        reasons.length > 0
          ? html`<fieldset>
              <legend>Why do you dismiss this card?</legend>
              ${reasons.map(
                (reason) =>
                  html`<label
                    ><input type="radio" name="reason" value="${reason.code}" required />
                    ${reason.display ?? reason.code}</label
                  >`,
              )}
            </fieldset>`
          : html``
      }
      <label>Comment (optional) <input name="comment" maxlength="500" autocomplete="off" /></label>
      <button class="button secondary cds-override-submit" type="submit">Dismiss card</button>
    </form>
  </details>`;
  const done = html`<span class="cds-outcome" data-outcome="${outcome ?? ''}"
    >${outcome === 'accepted' ? 'Accepted' : 'Dismissed'}${outcomeText ? html`: ${outcomeText}` : html``}</span
  >`;
  return html`<article
    class="cds-card indicator-${card.indicator}"
    data-card-uuid="${card.uuid}"
    data-service="${serviceId}"
    data-indicator="${card.indicator}"
  >
    <header>
      <span class="indicator">${card.indicator}</span>
      <strong class="cds-summary">${card.summary}</strong>
    </header>
    <div class="cds-detail">${renderMarkdown(card.detail)}</div>
    <p class="cds-source muted">
      Source:
      ${
        card.source.url
          ? html`<a href="${safeUrl(card.source.url)}" target="_blank" rel="noopener noreferrer"
              >${card.source.label}</a
            >`
          : card.source.label
      }
    </p>
    <div class="cds-actions">${links} ${suggestions} ${outcome ? done : dismiss}</div>
  </article>`;
}

/** Only http(s) URLs become hrefs. */
function safeUrl(url: string): string {
  return /^https?:\/\//i.test(url) ? url : '#';
}

import { useRef, useState } from 'react';
import { getModelCard, type ApiSession } from '../api';
import { errorToMessage } from '../error-message';

interface ModelCardDialogProps {
  /** `/api/model/card` (from `GET /api/model`). */
  cardUrl: string;
  /** What the card describes, e.g. `MSU LDH detector 1.8.0`. */
  modelName: string;
  baseUrl: string;
  getSession: () => Promise<ApiSession>;
}

type CardState =
  { kind: 'idle' } | { kind: 'loading' } | { kind: 'ready'; text: string } | { kind: 'error'; message: string };

/**
 * "Model card": the model's MODEL_CARD.md in a modal dialog (the native `<dialog>`: focus moves in, Escape closes,
 * focus returns to the button), as text — a card is written to be read as plain markdown.
 */
export function ModelCardDialog({ cardUrl, modelName, baseUrl, getSession }: ModelCardDialogProps) {
  const dialogRef = useRef<HTMLDialogElement>(null);
  const [card, setCard] = useState<CardState>({ kind: 'idle' });

  const open = (): void => {
    dialogRef.current?.showModal();
    if (card.kind === 'ready' || card.kind === 'loading') return;
    setCard({ kind: 'loading' });
    getSession()
      .then((session) => getModelCard(session, cardUrl, { baseUrl }))
      .then(
        (text) => {
          setCard({ kind: 'ready', text });
        },
        (error: unknown) => {
          setCard({ kind: 'error', message: errorToMessage(error, 'load the model card') });
        },
      );
  };

  return (
    <>
      <button type="button" className="link-button" data-testid="model-card-button" onClick={open}>
        Model card
      </button>
      <dialog ref={dialogRef} className="model-card-dialog" aria-labelledby="model-card-title" data-testid="model-card">
        <header className="dialog-header">
          <h2 id="model-card-title" className="section-title">
            Model card: {modelName}
          </h2>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              dialogRef.current?.close();
            }}
          >
            Close
          </button>
        </header>
        {card.kind === 'loading' ? <p className="loading">Loading the model card…</p> : null}
        {card.kind === 'error' ? (
          <p className="error-box" role="alert">
            {card.message}
          </p>
        ) : null}
        {card.kind === 'ready' ? (
          // Focusable so that a keyboard user can scroll the card (WCAG 2.1.1).
          <pre className="model-card-text" tabIndex={0} aria-label="Model card text" data-testid="model-card-text">
            {card.text}
          </pre>
        ) : null}
      </dialog>
    </>
  );
}

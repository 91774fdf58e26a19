import { useMemo, useRef, useState } from 'react';
import { getModelCard, type ApiSession } from '../api';
import { errorToMessage } from '../error-message';
import { markdownToBlocks, type Block, type Inline } from '../markdown-blocks';

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

function InlineText({ inlines }: { inlines: Inline[] }) {
  return (
    <>
      {inlines.map((inline, index) =>
        inline.kind === 'strong' ? (
          <strong key={index}>{inline.text}</strong>
        ) : inline.kind === 'code' ? (
          <code key={index}>{inline.text}</code>
        ) : (
          <span key={index}>{inline.text}</span>
        ),
      )}
    </>
  );
}

function CardBlock({ block }: { block: Block }) {
  switch (block.kind) {
    case 'heading': {
      // The dialog's own title is the h2; the card's headings sit below it.
      const Heading = `h${String(Math.min(6, block.level + 2))}` as 'h3' | 'h4' | 'h5' | 'h6';
      return (
        <Heading className="card-heading">
          <InlineText inlines={block.inlines} />
        </Heading>
      );
    }
    case 'paragraph':
      return (
        <p>
          <InlineText inlines={block.inlines} />
        </p>
      );
    case 'list': {
      const List = block.ordered ? 'ol' : 'ul';
      return (
        <List>
          {block.items.map((item, index) => (
            <li key={index}>
              <InlineText inlines={item} />
            </li>
          ))}
        </List>
      );
    }
    case 'table':
      return (
        <div className="table-scroll">
          <table className="history-table">
            <thead>
              <tr>
                {block.header.map((cell, index) => (
                  <th key={index} scope="col">
                    <InlineText inlines={cell} />
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {block.rows.map((row, rowIndex) => (
                <tr key={rowIndex}>
                  {row.map((cell, index) => (
                    <td key={index}>
                      <InlineText inlines={cell} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    case 'code':
      return <pre className="card-code">{block.text}</pre>;
  }
}

/**
 * "Model card": the model's MODEL_CARD.md in a modal dialog (the native `<dialog>`: focus moves in, Escape closes,
 * focus returns to the button), rendered from its markdown with React elements, never as HTML.
 */
export function ModelCardDialog({ cardUrl, modelName, baseUrl, getSession }: ModelCardDialogProps) {
  const dialogRef = useRef<HTMLDialogElement>(null);
  const [card, setCard] = useState<CardState>({ kind: 'idle' });
  const blocks = useMemo(() => (card.kind === 'ready' ? markdownToBlocks(card.text) : []), [card]);

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
          <div
            className="model-card-text"
            tabIndex={0}
            role="document"
            aria-label="Model card text"
            data-testid="model-card-text"
          >
            {blocks.map((block, index) => (
              <CardBlock key={index} block={block} />
            ))}
          </div>
        ) : null}
      </dialog>
    </>
  );
}

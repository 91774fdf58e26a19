import { describe, expect, it } from 'vitest';
import { markdownToBlocks, parseInline } from './markdown-blocks';

describe('model card markdown', () => {
  it('when lines are hard-wrapped, then a paragraph is one block with the lines joined', () => {
    expect(
      markdownToBlocks('# msu-ldh 1.8.0: model card\n\n**Not for clinical use.** Trained only\non synthetic studies.'),
    ).toEqual([
      { kind: 'heading', level: 1, inlines: [{ kind: 'text', text: 'msu-ldh 1.8.0: model card' }] },
      {
        kind: 'paragraph',
        inlines: [
          { kind: 'strong', text: 'Not for clinical use.' },
          { kind: 'text', text: ' Trained only on synthetic studies.' },
        ],
      },
    ]);
  });

  it('when a list item wraps, then its continuation joins the item', () => {
    expect(markdownToBlocks('- **Set A**: recall 99 %,\n  IoU 0.88\n- Set B\n\n1. first\n2. second')).toEqual([
      {
        kind: 'list',
        ordered: false,
        items: [
          [
            { kind: 'strong', text: 'Set A' },
            { kind: 'text', text: ': recall 99 %, IoU 0.88' },
          ],
          [{ kind: 'text', text: 'Set B' }],
        ],
      },
      { kind: 'list', ordered: true, items: [[{ kind: 'text', text: 'first' }], [{ kind: 'text', text: 'second' }]] },
    ]);
  });

  it('when a table is given, then its separator row is dropped and cells are parsed', () => {
    expect(markdownToBlocks('| version | recall |\n| ------- | -----: |\n| `1.8.0` | 99.5 % |')).toEqual([
      {
        kind: 'table',
        header: [[{ kind: 'text', text: 'version' }], [{ kind: 'text', text: 'recall' }]],
        rows: [[[{ kind: 'code', text: '1.8.0' }], [{ kind: 'text', text: '99.5 %' }]]],
      },
    ]);
  });

  it('when the card links elsewhere or holds code, then links read as text and code stays as it is', () => {
    expect(parseInline('see [docs/msu.md](../../docs/msu.md) <b>')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'text', text: 'docs/msu.md' },
      { kind: 'text', text: ' <b>' },
    ]);
    expect(markdownToBlocks('```\nnpm run eval\n```')).toEqual([{ kind: 'code', text: 'npm run eval' }]);
  });
});

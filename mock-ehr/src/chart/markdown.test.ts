import { describe, expect, it } from 'vitest';
import { renderMarkdown } from './markdown';

describe('renderMarkdown', () => {
  it('when the detail holds a GFM table, then it is an HTML table with escaped, inline-formatted cells', () => {
    const html = renderMarkdown(
      [
        'Before.',
        '',
        '| Level | MSU (AI) |',
        '| --- | :---: |',
        '| L4-L5 | **2-AB left** |',
        '| <b>x</b> | a \\| b |',
        '',
        'After.',
      ].join('\n'),
    ).value;
    expect(html).toBe(
      [
        '<p>Before.</p>',
        '<table><thead><tr><th>Level</th><th>MSU (AI)</th></tr></thead><tbody>' +
          '<tr><td>L4-L5</td><td><strong>2-AB left</strong></td></tr>' +
          '<tr><td>&lt;b&gt;x&lt;/b&gt;</td><td>a | b</td></tr></tbody></table>',
        '<p>After.</p>',
      ].join('\n'),
    );
  });

  it('when a line has pipes but no delimiter row follows, then it stays a paragraph', () => {
    expect(renderMarkdown('a | b\nc').value).toBe('<p>a | b<br />c</p>');
  });

  it('when a table row has fewer cells than the header, then the missing cells are empty', () => {
    expect(renderMarkdown('| a | b |\n| --- | --- |\n| 1 |').value).toContain('<tr><td>1</td><td></td></tr>');
  });
});

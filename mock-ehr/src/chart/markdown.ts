/**
 * The small, safe subset of CommonMark that CDS cards use in `detail` (CDS Hooks 2.0: "GitHub Flavored Markdown"):
 * paragraphs, `#` headings, `-`/`*`/`1.` lists, GFM tables (a header row, a `---` delimiter row, body rows; `|` at
 * both ends optional, `\|` an escaped pipe), **bold**, *italic*, `code` and [links](https://…). Text is escaped
 * before any markup is added, and only http(s) links survive — a card cannot inject script into the chart.
 */
import { escapeHtml, SafeHtml } from './html';

export function renderMarkdown(markdown: string | undefined): SafeHtml {
  const blocks: string[] = [];
  let list: { ordered: boolean; items: string[] } | undefined;
  let paragraph: string[] = [];
  const flushParagraph = (): void => {
    if (paragraph.length > 0) blocks.push(`<p>${paragraph.map(inline).join('<br />')}</p>`);
    paragraph = [];
  };
  const flushList = (): void => {
    if (list) {
      const tag = list.ordered ? 'ol' : 'ul';
      blocks.push(`<${tag}>${list.items.map((item) => `<li>${item}</li>`).join('')}</${tag}>`);
    }
    list = undefined;
  };
  const lines = (markdown ?? '').split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    // GFM table: a row of cells followed by a delimiter row; body rows until a line that is not a row.
    const header = tableCells(line);
    const delimiter = tableCells(lines[index + 1] ?? '');
    if (header && delimiter?.length === header.length && delimiter.every((cell) => /^:?-{3,}:?$/.test(cell))) {
      flushParagraph();
      flushList();
      const rows: string[][] = [];
      index += 2;
      for (let row = tableCells(lines[index] ?? ''); row; row = tableCells(lines[++index] ?? '')) rows.push(row);
      index--;
      const cells = (row: string[], tag: 'th' | 'td'): string =>
        header.map((_, i) => `<${tag}>${inline(row[i] ?? '')}</${tag}>`).join('');
      blocks.push(
        `<table><thead><tr>${cells(header, 'th')}</tr></thead><tbody>${rows.map((row) => `<tr>${cells(row, 'td')}</tr>`).join('')}</tbody></table>`,
      );
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (line.trim() === '') {
      flushParagraph();
      flushList();
    } else if (heading) {
      flushParagraph();
      flushList();
      const level = Math.min(6, (heading[1] ?? '#').length + 2);
      blocks.push(`<h${level}>${inline(heading[2] ?? '')}</h${level}>`);
    } else if (bullet || numbered) {
      flushParagraph();
      const ordered = numbered !== null && bullet === null;
      if (list && list.ordered !== ordered) flushList();
      list ??= { ordered, items: [] };
      list.items.push(inline((bullet ?? numbered)?.[1] ?? ''));
    } else {
      flushList();
      paragraph.push(line.trim());
    }
  }
  flushParagraph();
  flushList();
  return new SafeHtml(blocks.join('\n'));
}

/** The cells of a GFM table row (`| a | b |`, outer pipes optional, `\|` kept as a pipe); undefined when it is none. */
function tableCells(line: string): string[] | undefined {
  const trimmed = line.trim();
  if (!trimmed.includes('|')) return undefined;
  const cells = trimmed
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replaceAll('\\|', '|'));
  return cells.length > 0 ? cells : undefined;
}

function inline(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*([^*]+)\*/g, '$1<em>$2</em>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
}

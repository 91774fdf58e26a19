/**
 * A model card's markdown as blocks the panel renders with React elements (never as HTML): headings, paragraphs whose
 * hard-wrapped lines are joined, lists, tables and code. Inline: **strong**, `code`, and links as their text (a card's
 * links are relative to its repository, not to the panel). Enough for MODEL_CARD.md; anything else reads as text.
 */

export type Inline = { kind: 'text' | 'strong' | 'code'; text: string };

export type Block =
  | { kind: 'heading'; level: number; inlines: Inline[] }
  | { kind: 'paragraph'; inlines: Inline[] }
  | { kind: 'list'; ordered: boolean; items: Inline[][] }
  | { kind: 'table'; header: Inline[][]; rows: Inline[][][] }
  | { kind: 'code'; text: string };

const INLINE = /\*\*(.+?)\*\*|`([^`]+)`|\[([^\]]+)\]\([^)]*\)/g;

export function parseInline(text: string): Inline[] {
  const inlines: Inline[] = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) inlines.push({ kind: 'text', text: text.slice(last, match.index) });
    const [, strong, code, link] = match;
    if (strong !== undefined) inlines.push({ kind: 'strong', text: strong });
    else if (code !== undefined) inlines.push({ kind: 'code', text: code });
    else inlines.push({ kind: 'text', text: link ?? '' });
    last = match.index + match[0].length;
  }
  if (last < text.length) inlines.push({ kind: 'text', text: text.slice(last) });
  return inlines;
}

const LIST_ITEM = /^(\s*)([-*]|\d+[.)])\s+(.*)$/;

function tableCells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((cell) => cell.trim());
}

export function markdownToBlocks(markdown: string): Block[] {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const blocks: Block[] = [];
  let index = 0;
  const at = (i: number): string => lines[i] ?? '';
  while (index < lines.length) {
    const line = at(index);
    if (!line.trim()) {
      index += 1;
      continue;
    }
    if (line.startsWith('```')) {
      const body: string[] = [];
      index += 1;
      while (index < lines.length && !at(index).startsWith('```')) body.push(at(index++));
      index += 1;
      blocks.push({ kind: 'code', text: body.join('\n') });
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      blocks.push({ kind: 'heading', level: heading[1]?.length ?? 1, inlines: parseInline(heading[2] ?? '') });
      index += 1;
      continue;
    }
    if (line.trimStart().startsWith('|')) {
      const tableLines: string[] = [];
      while (index < lines.length && at(index).trimStart().startsWith('|')) tableLines.push(at(index++));
      const [head = '', ...rest] = tableLines;
      const body = rest.filter((row) => !/^\s*\|?[\s:|-]+\|?\s*$/.test(row));
      blocks.push({
        kind: 'table',
        header: tableCells(head).map(parseInline),
        rows: body.map((row) => tableCells(row).map(parseInline)),
      });
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item) {
      const ordered = /\d/.test(item[2] ?? '');
      const items: string[] = [];
      while (index < lines.length && at(index).trim()) {
        const next = LIST_ITEM.exec(at(index));
        if (next) items.push(next[3] ?? '');
        else items[items.length - 1] = `${items.at(-1) ?? ''} ${at(index).trim()}`;
        index += 1;
      }
      blocks.push({ kind: 'list', ordered, items: items.map(parseInline) });
      continue;
    }
    const paragraph: string[] = [];
    while (index < lines.length && at(index).trim() && !/^(#{1,6}\s|```|\s*\|)/.test(at(index))) {
      if (paragraph.length > 0 && LIST_ITEM.test(at(index))) break;
      paragraph.push(at(index++).trim());
    }
    blocks.push({ kind: 'paragraph', inlines: parseInline(paragraph.join(' ')) });
  }
  return blocks;
}

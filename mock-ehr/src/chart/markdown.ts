/**
 * The small, safe subset of CommonMark that CDS cards use in `detail` (CDS Hooks 2.0: "GitHub Flavored Markdown"):
 * paragraphs, `#` headings, `-`/`*`/`1.` lists, **bold**, *italic*, `code` and [links](https://…). Text is escaped
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
  for (const line of (markdown ?? '').split(/\r?\n/)) {
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

function inline(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*([^*]+)\*/g, '$1<em>$2</em>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
}

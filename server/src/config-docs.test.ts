import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from './config';

describe('the README configuration table', () => {
  it('when a configuration key exists, then the README documents it with its default', async () => {
    const readme = await readFile(path.join(import.meta.dirname, '../../README.md'), 'utf8');
    for (const { key, default: fallback } of CONFIG_KEYS) {
      const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      // A key without a default (an empty one) reads "(none)".
      const shown = fallback === '' ? '\\(none\\)' : `\`${escaped(fallback)}\``;
      expect(readme, key).toMatch(new RegExp(`\\| \`${escaped(key)}\` +\\| ${shown} +\\|`));
    }
  });
});

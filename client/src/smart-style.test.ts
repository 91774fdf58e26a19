import { describe, expect, it } from 'vitest';
import { applySmartStyle, smartStyleToCssVariables } from './smart-style';

/** The mock EHR's chart style (mock-ehr/src/chart/smart-style.ts), as a real EHR serves one. */
const chartStyle = {
  color_background: '#f4f6f9',
  color_error: '#a02020',
  color_highlight: '#0b5cad',
  color_modal_backdrop: '',
  color_success: '#1e7a3c',
  color_text: '#1d2733',
  dim_border_radius: '4px',
  dim_font_size: '15px',
  dim_spacing_size: '16px',
  font_family_body: 'system-ui, sans-serif',
  font_family_heading: 'system-ui, sans-serif',
};

describe('SMART styling', () => {
  it("when the EHR sends its style, then its colours, sizes and fonts become the panel's CSS variables", () => {
    expect(smartStyleToCssVariables(chartStyle)).toEqual({
      '--bg': '#f4f6f9',
      '--error-border': '#a02020',
      '--accent': '#0b5cad',
      '--success': '#1e7a3c',
      '--fg': '#1d2733',
      '--radius': '4px',
      '--font-size': '15px',
      '--space': '16px',
      '--font-body': 'system-ui, sans-serif',
      '--font-heading': 'system-ui, sans-serif',
    });
  });

  it('when a value is not a plain colour, length or font list, then it is ignored', () => {
    expect(
      smartStyleToCssVariables({
        color_text: 'red; background: url(http://x)',
        dim_font_size: 'calc(100vw)',
        font_family_body: 'x"}body{display:none',
        color_highlight: 'rgb(10, 20, 30)',
        unknown_key: '#fff',
      }),
    ).toEqual({ '--accent': 'rgb(10, 20, 30)' });
    expect(smartStyleToCssVariables(null)).toEqual({});
  });

  it('when the style URL answers, then the variables are set on the root without credentials', async () => {
    const set = new Map<string, string>();
    const calls: RequestInit[] = [];
    const variables = await applySmartStyle(
      'http://ehr.example/smart-style.json',
      { style: { setProperty: (name: string, value: string | null) => void set.set(name, value ?? '') } },
      {
        fetch: (_url, init) => {
          calls.push(init ?? {});
          return Promise.resolve(new Response(JSON.stringify({ color_text: '#111111' })));
        },
      },
    );
    expect(variables).toEqual({ '--fg': '#111111' });
    expect(set.get('--fg')).toBe('#111111');
    expect(calls[0]?.credentials).toBe('omit');
  });
});

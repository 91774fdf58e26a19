/**
 * SMART App Launch 2.x "Styling" (capability `context-style`): the chart's colours and fonts, served at
 * `/smart-style.json` for apps that want to match the EHR they are embedded in.
 */
export const CHART_SMART_STYLE = {
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
} as const;

import type { AnalysisResult, ApiSession } from '../api';
import { modelLabel } from '../findings-rows';
import { formatInstant } from '../format-date';
import { isSigned, reportStatusLine } from '../report-status';
import type { ModelInfo } from '../viewer/viewer-api';
import { ModelCardDialog } from './ModelCardDialog';

interface ReportSummaryProps {
  result: AnalysisResult;
  source: 'stored' | 'new';
  /** The model the app server runs (`GET /api/model`), when known. */
  model: ModelInfo | undefined;
  baseUrl: string;
  getSession: () => Promise<ApiSession>;
  /** The signed-in user's `fhirUser`, so their own signature reads "you". */
  fhirUser: string | undefined;
}

/** Where the findings come from, in words: a new analysis, or the one the EHR already held. */
function describeSource(result: AnalysisResult, source: 'stored' | 'new'): string {
  if (source === 'stored') return 'stored analysis';
  return result.created === false ? 'already in the EHR (not recomputed)' : 'new analysis';
}

/** `MSU … detector 1.8.0 (synthetic-trained)` as the manifest names it, with the version when the name lacks it. */
function modelName(model: Pick<ModelInfo, 'name' | 'version'>): string {
  return model.name.includes(model.version) ? model.name : `${model.name} ${model.version}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The report's status, the model with its card, when it ran, how levels were found, and every warning. */
export function ReportSummary({ result, source, model, baseUrl, getSession, fhirUser }: ReportSummaryProps) {
  const { findings } = result;
  const signed = isSigned(result);
  // The card describes the model the server runs now; say so when the stored findings came from another one.
  const sameModel = model !== undefined && model.id === findings.model.id && model.version === findings.model.version;
  return (
    <div className="report-summary">
      <p className={`report-status ${signed ? 'report-signed' : 'report-preliminary'}`} data-testid="report-status">
        {reportStatusLine(result, {}, fhirUser ? { fhirUser } : {})}
      </p>
      <div className="findings-meta model-line" data-testid="model-line">
        Model <span data-testid="model-label">{sameModel ? modelName(model) : modelLabel(findings)}</span>
        {model?.card ? (
          <>
            {' · '}
            <ModelCardDialog
              cardUrl={model.card}
              modelName={modelName(model)}
              baseUrl={baseUrl}
              getSession={getSession}
            />
            {sameModel ? null : ` (of ${modelName(model)}, which the server runs now)`}
          </>
        ) : null}
      </div>
      <p className="findings-meta" data-testid="analysis-meta">
        {capitalize(describeSource(result, source))}
        {result.issued ? ` · analyzed ${formatInstant(result.issued)}` : ''}
        {result.superseded ? ' · replaces the earlier AI report' : ''}
      </p>
      {findings.levelAssignment ? (
        <p className="findings-meta" data-testid="level-assignment">
          {findings.levelAssignment.description}
        </p>
      ) : null}
      {findings.warnings.length > 0 ? (
        <ul className="warnings" data-testid="findings-warnings" aria-label="Warnings">
          {findings.warnings.map((warning) => (
            <li key={warning}>{warning}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

import { studyCountsLabel, type StudySummary } from '../chart';
import { formatFhirDate } from '../format-date';

interface StudyListProps {
  studies: StudySummary[];
  selectedId: string | null;
  disabled: boolean;
  onSelect: (studyId: string) => void;
}

/** One radio per MR study; the selected one is what Analyze works on. */
export function StudyList({ studies, selectedId, disabled, onSelect }: StudyListProps) {
  if (studies.length === 0) {
    return (
      <p className="empty" data-testid="study-list">
        This patient has no MR imaging studies in the EHR.
      </p>
    );
  }
  return (
    <fieldset className="study-list" data-testid="study-list" disabled={disabled}>
      <legend>MR studies</legend>
      {studies.map((study) => (
        <label key={study.id} className="study-row" data-study-id={study.id}>
          <input
            type="radio"
            name="study"
            value={study.id}
            checked={study.id === selectedId}
            onChange={() => {
              onSelect(study.id);
            }}
          />
          <span className="study-date">{formatFhirDate(study.date)}</span>
          <span className="study-description">{study.description}</span>
          <span className="study-counts">{studyCountsLabel(study)}</span>
        </label>
      ))}
    </fieldset>
  );
}

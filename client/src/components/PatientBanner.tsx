import type { PatientSummary } from '../chart';
import { formatFhirDate } from '../format-date';

export function PatientBanner({ patient }: { patient: PatientSummary }) {
  return (
    <section className="patient-banner" data-testid="patient-banner" aria-label="Patient">
      <span className="patient-name">{patient.name}</span>
      <dl className="patient-facts">
        <div>
          <dt>Gender</dt>
          <dd>{patient.gender}</dd>
        </div>
        <div>
          <dt>Born</dt>
          <dd>{formatFhirDate(patient.birthDate)}</dd>
        </div>
        <div>
          <dt>MRN</dt>
          <dd>{patient.mrn}</dd>
        </div>
      </dl>
    </section>
  );
}

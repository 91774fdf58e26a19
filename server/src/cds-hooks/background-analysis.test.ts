import { describe, expect, it } from 'vitest';
import { JobRefusedError, type AnalysisJobData, type JobRequester } from '../jobs/analysis-jobs';
import { backgroundAnalysisRequester } from './background-analysis';

const FHIR = 'http://ehr/fhir';
const ehrs = [{ fhirBaseUrl: FHIR, imagingOrigins: ['http://pacs'] }];

function fakeJobs(refuse?: JobRefusedError) {
  const submitted: { data: AnalysisJobData; requester: JobRequester }[] = [];
  return {
    submitted,
    jobs: {
      submit: (data: AnalysisJobData, requester: JobRequester) => {
        if (refuse) return Promise.reject(refuse);
        submitted.push({ data, requester });
        return Promise.resolve({ snapshot: {} as never, joined: false });
      },
    },
  };
}

const model = () => Promise.resolve({ id: 'msu-ldh', version: '1.8.0' });

describe('backgroundAnalysisRequester', () => {
  it('when a study was never analyzed, then its job is submitted for that patient, on that EHR, without any token', async () => {
    const { jobs, submitted } = fakeJobs();
    const request = backgroundAnalysisRequester({ jobs, ehrs, model, storeStructuredReport: true });
    expect(await request({ fhirServer: `${FHIR}/`, imagingStudy: 'ImagingStudy/s1', patientId: 'p1' })).toEqual({
      queued: true,
    });
    expect(submitted).toEqual([
      {
        data: {
          fhirBaseUrl: FHIR,
          imagingStudy: 'ImagingStudy/s1',
          model: { id: 'msu-ldh', version: '1.8.0' },
          imagingOrigins: ['http://pacs'],
          storeStructuredReport: true,
          patientRestriction: { patientId: 'p1' },
        },
        requester: { reader: `cds-hooks:${FHIR}:Patient/p1`, user: `cds-hooks:${FHIR}:Patient/p1`, accessToken: '' },
      },
    ]);
  });

  it('when the EHR is not trusted, then nothing is submitted and the card says why', async () => {
    const { jobs, submitted } = fakeJobs();
    const request = backgroundAnalysisRequester({ jobs, ehrs, model, storeStructuredReport: false });
    const outcome = await request({
      fhirServer: 'http://other/fhir',
      imagingStudy: 'ImagingStudy/s1',
      patientId: 'p1',
    });
    expect(outcome).toMatchObject({ queued: false, reason: expect.stringContaining('trusts') as unknown });
    expect(submitted).toEqual([]);
  });

  it('when the queue refuses, then the card says it could not be queued', async () => {
    const { jobs } = fakeJobs(new JobRefusedError('queue-full', 'full', 30));
    const request = backgroundAnalysisRequester({ jobs, ehrs, model, storeStructuredReport: false });
    expect(await request({ fhirServer: FHIR, imagingStudy: 'ImagingStudy/s1', patientId: 'p1' })).toEqual({
      queued: false,
      reason: 'ldh-cds could not queue it now (its queue is full).',
    });
  });
});

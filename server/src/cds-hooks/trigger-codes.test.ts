import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { CPT, draftOrder, lumbarMriStudy, SNOMED } from '../../../test/support/cds-fixtures';
import { loadCdsCodes, triggerCodes } from './trigger-codes';

const codes = triggerCodes(loadCdsCodes('smart-config/cds-referral-codes.json'));
const drafts = (...orders: ReturnType<typeof draftOrder>[]): Bundle => ({
  resourceType: 'Bundle',
  type: 'collection',
  entry: orders.map((resource) => ({ resource })),
});
const kindOf = (system: string, code: string) => codes.triggersIn(drafts(draftOrder('o', 'p', system, code)))[0];

describe('the orders the CDS services speak at (smart-config/cds-referral-codes.json)', () => {
  it.each([
    ['308482002', 'neurosurgery'],
    ['183882005', 'neurosurgery'],
    ['308481009', 'orthopaedic-spine'],
    ['183881003', 'orthopaedic-spine'],
    ['306265007', 'pain-management'],
  ])('when a referral is SNOMED %s, then it is a %s referral', (code, kind) => {
    expect(kindOf(SNOMED, code)).toMatchObject({ type: 'referral', kind });
  });

  it.each([
    ['SNOMED 308447003 (physiotherapy)', SNOMED, '308447003'],
    ['SNOMED 308471005 (cardiology)', SNOMED, '308471005'],
    ['the neurosurgery code in another system', 'http://example.org/local', '308482002'],
    ['CPT 72141 (MRI cervical spine)', CPT, '72141'],
  ])('when the order is %s, then it triggers nothing', (_name, system, code) => {
    expect(kindOf(system, code)).toBeUndefined();
  });

  it('when the order is a lumbar MRI (CPT 72148, LOINC 24531-6), then it is a lumbar MRI order', () => {
    expect(kindOf(CPT, '72148')).toMatchObject({ type: 'lumbar-mri' });
    expect(kindOf('http://loinc.org', '24531-6')).toMatchObject({ type: 'lumbar-mri' });
  });

  it('when the referral is named by performerType, then it counts too', () => {
    const order = {
      ...draftOrder('o', 'p', 'http://example.org/local', 'REF'),
      performerType: { coding: [{ system: SNOMED, code: '308482002' }] },
    };
    expect(codes.triggersIn(drafts(order))[0]).toMatchObject({ type: 'referral', kind: 'neurosurgery' });
  });

  it('when order-select lists selections, then only the selected drafts count; referrals come before MRI orders', () => {
    const bundle = drafts(draftOrder('mri', 'p', CPT, '72148'), draftOrder('ref', 'p', SNOMED, '308482002'));
    expect(codes.triggersIn(bundle, ['ServiceRequest/mri']).map((t) => t.type)).toEqual(['lumbar-mri']);
    expect(codes.triggersIn(bundle).map((t) => t.order.id)).toEqual(['ref', 'mri']);
  });

  it('when a study is MR with a lumbar procedure code or a lumbar spine series, then it is a lumbar MRI', () => {
    const study = lumbarMriStudy('s', 'p', '2026-01-01');
    expect(codes.isLumbarMri(study)).toBe(true);
    expect(
      codes.isLumbarMri({
        ...study,
        modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }],
      }),
    ).toBe(false);
    const bySeries = {
      ...study,
      procedureCode: [],
      series: [
        {
          uid: '1.2',
          modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' },
          bodySite: { system: SNOMED, code: '122496007' },
        },
      ],
    };
    expect(codes.isLumbarMri(bySeries)).toBe(true);
    expect(codes.isLumbarMri({ ...bySeries, series: [] })).toBe(false);
  });

  it('when the file has an unknown kind or key, then loading it fails naming the entry', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cds-codes-'));
    const file = path.join(dir, 'codes.json');
    await writeFile(
      file,
      JSON.stringify({
        referrals: [
          { kind: 'physiotherapy', system: SNOMED, code: '308447003', display: 'Referral to physiotherapist' },
        ],
        lumbarMriOrders: [{ system: CPT, code: '72148', display: 'MRI' }],
        lumbarSpineBodySites: [],
        recentLumbarMriDays: 365,
      }),
    );
    expect(() => loadCdsCodes(file)).toThrow(/referrals\[0\]\.kind/);
    await writeFile(file, '{"referrals": []');
    expect(() => loadCdsCodes(file)).toThrow(/Cannot read CDS_CODES_FILE/);
  });
});

/**
 * QIDO-RS (PS3.18 §10.6): study, series and instance searches over the store. Matching follows PS3.4 C.2.2.2 in the
 * subset we need: single value, UID list (comma-separated), wildcard `*`/`?`, and date ranges `a-b`.
 * An attribute we cannot match on is a 400 that names it — never a silently unfiltered answer.
 */
import { badRequest } from '../http/errors';
import type { DicomJsonDataset, DicomJsonElement } from './dcmjs';
import { datasetToDicomJson } from './dicom-json';
import {
  firstString,
  sortedInstances,
  TAG,
  type StoredInstance,
  type StoredSeries,
  type StoredStudy,
} from './dicom-store';

type Level = 'study' | 'series' | 'instance';

const STUDY_ATTRIBUTES = [
  TAG.StudyDate,
  TAG.StudyTime,
  TAG.AccessionNumber,
  TAG.ReferringPhysicianName,
  TAG.StudyDescription,
  TAG.PatientName,
  TAG.PatientID,
  TAG.PatientBirthDate,
  TAG.PatientSex,
  TAG.StudyInstanceUID,
  TAG.StudyID,
];
const SERIES_ATTRIBUTES = [
  TAG.Modality,
  TAG.SeriesDescription,
  TAG.SeriesInstanceUID,
  TAG.SeriesNumber,
  TAG.BodyPartExamined,
];
const INSTANCE_ATTRIBUTES = [
  TAG.SOPClassUID,
  TAG.SOPInstanceUID,
  TAG.InstanceNumber,
  TAG.Rows,
  TAG.Columns,
  TAG.NumberOfFrames,
];

/** Query keys (keyword or tag) each level can match on. */
const MATCHABLE: Record<Level, Record<string, string>> = {
  study: {
    StudyInstanceUID: TAG.StudyInstanceUID,
    PatientID: TAG.PatientID,
    PatientName: TAG.PatientName,
    StudyDate: TAG.StudyDate,
    AccessionNumber: TAG.AccessionNumber,
    StudyDescription: TAG.StudyDescription,
    ModalitiesInStudy: TAG.ModalitiesInStudy,
  },
  series: {
    SeriesInstanceUID: TAG.SeriesInstanceUID,
    Modality: TAG.Modality,
    SeriesNumber: TAG.SeriesNumber,
    SeriesDescription: TAG.SeriesDescription,
  },
  instance: { SOPInstanceUID: TAG.SOPInstanceUID, SOPClassUID: TAG.SOPClassUID, InstanceNumber: TAG.InstanceNumber },
};
const CONTROL_KEYS = new Set(['limit', 'offset', 'includefield', 'fuzzymatching']);

interface Filter {
  tag: string;
  value: string;
}

export interface QidoQuery {
  filters: Filter[];
  limit: number | undefined;
  offset: number;
  includeAll: boolean;
  includeTags: string[];
}

/** `levels` are the levels whose attributes may be matched (e.g. series search: series + study). */
export function parseQidoQuery(params: URLSearchParams, levels: Level[]): QidoQuery {
  const query: QidoQuery = { filters: [], limit: undefined, offset: 0, includeAll: false, includeTags: [] };
  const allowed = new Map<string, string>();
  for (const level of levels)
    for (const [keyword, tag] of Object.entries(MATCHABLE[level])) {
      allowed.set(keyword, tag);
      allowed.set(tag, tag);
    }
  for (const [key, value] of params) {
    if (key === 'limit' || key === 'offset') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw badRequest(`QIDO-RS ${key}=${value} must be a non-negative integer`);
      if (key === 'limit') query.limit = n;
      else query.offset = n;
    } else if (key === 'includefield') {
      for (const field of value.split(',')) {
        if (field === 'all') query.includeAll = true;
        else query.includeTags.push(resolveTag(field));
      }
    } else if (!CONTROL_KEYS.has(key)) {
      const tag = allowed.get(key) ?? allowed.get(key.toUpperCase());
      if (tag === undefined)
        throw badRequest(
          `QIDO-RS cannot match on "${key}" at this level; supported: ${[...new Set(allowed.keys())].filter((k) => !/^[0-9A-F]{8}$/.test(k)).join(', ')}`,
        );
      query.filters.push({ tag, value });
    }
  }
  return query;
}

function resolveTag(field: string): string {
  if (/^[0-9A-Fa-f]{8}$/.test(field)) return field.toUpperCase();
  const tag = (TAG as Record<string, string>)[field];
  if (tag === undefined) throw badRequest(`includefield "${field}" is not a known keyword; use the 8-digit tag`);
  return tag;
}

export function searchStudies(studies: StoredStudy[], query: QidoQuery, wadoBase: string): DicomJsonDataset[] {
  const results = studies.map((study) => studyAttributes(study, wadoBase)).filter((r) => matches(r.attributes, query));
  return page(results, query).map((r) => withIncludes(r.attributes, r.source, query));
}

export function searchSeries(study: StoredStudy, query: QidoQuery, wadoBase: string): DicomJsonDataset[] {
  const studyAttrs = studyAttributes(study, wadoBase).attributes;
  const results = [...study.series.values()]
    .map((series) => seriesAttributes(study, series, wadoBase, studyAttrs))
    .filter((r) => matches(r.attributes, query));
  return page(results, query).map((r) => withIncludes(r.attributes, r.source, query));
}

export function searchInstances(
  study: StoredStudy,
  seriesList: StoredSeries[],
  query: QidoQuery,
  wadoBase: string,
): DicomJsonDataset[] {
  const studyAttrs = studyAttributes(study, wadoBase).attributes;
  const results = seriesList.flatMap((series) => {
    const seriesAttrs = seriesAttributes(study, series, wadoBase, studyAttrs).attributes;
    return sortedInstances(series).map((instance) => instanceAttributes(instance, wadoBase, seriesAttrs));
  });
  const matched = results.filter((r) => matches(r.attributes, query));
  return page(matched, query).map((r) => withIncludes(r.attributes, r.source, query));
}

interface Result {
  attributes: DicomJsonDataset;
  source: DicomJsonDataset;
}

function studyAttributes(study: StoredStudy, wadoBase: string): Result {
  const series = [...study.series.values()];
  const instances = series.flatMap((s) => [...s.instances.values()]);
  const source = instances[0]?.dataset ?? {};
  const attributes = pick(source, STUDY_ATTRIBUTES);
  const modalities = [
    ...new Set(instances.map((i) => firstString(i.dataset[TAG.Modality])).filter((m) => m !== undefined)),
  ];
  attributes[TAG.ModalitiesInStudy] = { vr: 'CS', Value: modalities };
  attributes[TAG.NumberOfStudyRelatedSeries] = { vr: 'IS', Value: [series.length] };
  attributes[TAG.NumberOfStudyRelatedInstances] = { vr: 'IS', Value: [instances.length] };
  attributes[TAG.RetrieveURL] = { vr: 'UR', Value: [`${wadoBase}/studies/${study.studyInstanceUid}`] };
  return { attributes, source };
}

function seriesAttributes(
  study: StoredStudy,
  series: StoredSeries,
  wadoBase: string,
  studyAttrs: DicomJsonDataset,
): Result {
  const source = series.instances.values().next().value?.dataset ?? {};
  const attributes: DicomJsonDataset = { ...studyAttrs, ...pick(source, SERIES_ATTRIBUTES) };
  attributes[TAG.NumberOfSeriesRelatedInstances] = { vr: 'IS', Value: [series.instances.size] };
  attributes[TAG.RetrieveURL] = {
    vr: 'UR',
    Value: [`${wadoBase}/studies/${study.studyInstanceUid}/series/${series.seriesInstanceUid}`],
  };
  return { attributes, source };
}

function instanceAttributes(instance: StoredInstance, wadoBase: string, seriesAttrs: DicomJsonDataset): Result {
  const attributes: DicomJsonDataset = {
    ...without(seriesAttrs, TAG.NumberOfSeriesRelatedInstances),
    ...pick(instance.dataset, INSTANCE_ATTRIBUTES),
  };
  attributes[TAG.RetrieveURL] = {
    vr: 'UR',
    Value: [
      `${wadoBase}/studies/${instance.studyInstanceUid}/series/${instance.seriesInstanceUid}/instances/${instance.sopInstanceUid}`,
    ],
  };
  return { attributes, source: instance.dataset };
}

function pick(dataset: DicomJsonDataset, tags: readonly string[]): DicomJsonDataset {
  const json = datasetToDicomJson(dataset, undefined);
  const out: DicomJsonDataset = {};
  for (const tag of tags) {
    const element = json[tag];
    if (element) out[tag] = element;
  }
  return out;
}

function withIncludes(attributes: DicomJsonDataset, source: DicomJsonDataset, query: QidoQuery): DicomJsonDataset {
  if (!query.includeAll && query.includeTags.length === 0) return sortKeys(attributes);
  const json = datasetToDicomJson(source, undefined);
  const extra = without(query.includeAll ? json : pick(source, query.includeTags), TAG.PixelData);
  return sortKeys({ ...extra, ...attributes });
}

function without(dataset: DicomJsonDataset, tag: string): DicomJsonDataset {
  return Object.fromEntries(Object.entries(dataset).filter(([key]) => key !== tag));
}

function sortKeys(dataset: DicomJsonDataset): DicomJsonDataset {
  return Object.fromEntries(Object.entries(dataset).sort(([a], [b]) => a.localeCompare(b)));
}

function page<T>(items: T[], query: QidoQuery): T[] {
  return items.slice(query.offset, query.limit === undefined ? undefined : query.offset + query.limit);
}

function matches(attributes: DicomJsonDataset, query: QidoQuery): boolean {
  return query.filters.every((filter) => matchesFilter(attributes[filter.tag], filter));
}

function matchesFilter(element: DicomJsonElement | undefined, filter: Filter): boolean {
  const values = (element?.Value ?? []).map((value) =>
    typeof value === 'object' && value !== null ? ((value as { Alphabetic?: string }).Alphabetic ?? '') : String(value),
  );
  const { value } = filter;
  if (value === '' || value === '*') return true;
  if (element?.vr === 'DA' && value.includes('-')) {
    const [from = '', to = ''] = value.split('-');
    return values.some((v) => (from === '' || v >= from) && (to === '' || v <= to));
  }
  if (element?.vr === 'UI' || value.includes(',')) {
    const wanted = value.split(',').map((v) => v.trim());
    return values.some((v) => wanted.includes(v));
  }
  if (value.includes('*') || value.includes('?')) {
    const pattern = new RegExp(
      `^${value
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      'i',
    );
    return values.some((v) => pattern.test(v));
  }
  return values.some((v) => v === value || (element?.vr === 'PN' && v.toLowerCase() === value.toLowerCase()));
}

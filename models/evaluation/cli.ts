/**
 * `npm run eval -- --data DIR [--model PATH] [--json FILE]` — runs the real pipeline (DICOM in, findings out) on
 * a labelled folder and reports the seed paper's metrics (docs/msu.md §Evaluation) for grading and localization beside
 * the paper's own figures.
 * `npm run eval -- --ratings FILE.csv` — agreement of two raters (two columns of categorical labels).
 * `npm run eval -- --from-fhir FHIR_BASE [--token TOKEN] [--json FILE]` — how the model fares with the clinicians who
 * sign its analyses: every signed ldh-cds report on the FHIR server, per model version (review-agreement.ts). The
 * token (or env FHIR_TOKEN) needs read and search on DiagnosticReport and Observation across patients, e.g. a SMART
 * Backend Services token with system/DiagnosticReport.rs system/Observation.rs.
 *
 * Layout of a labelled folder: one sub-folder per study holding its DICOM files and a `ground-truth.json` in the
 * findings contract (docs/architecture.md §The findings contract) — what `npm run synth` writes, and what a site writes
 * for its own cases.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../server/src/config';
import { createFhirClient } from '../../server/src/fhir/fhir-client';
import { readSignedReviews } from '../../server/src/fhir/read-reviews';
import { createDetectorSession } from '../../server/src/inference/detector-session';
import type { Findings } from '../../server/src/findings/findings';
import { analyzeImages } from '../../server/src/pipeline/analyze-images';
import { loadDicomFolder } from '../../server/src/pipeline/folder-source';
import { evaluateTask, keySliceAgreement, taskReportToJson, type StudyPair, type TaskReport } from './evaluate';
import { PAPER_FIGURES, PAPER_SURGEON_AC1 } from './paper-figures';
import { parseRatingsCsv, ratingsReport } from './ratings';
import { reviewAgreement, type AgreementSummary, type ReviewAgreementReport } from './review-agreement';

const USAGE =
  'usage: npm run eval -- --data DIR [--model PATH] [--json FILE]  |  npm run eval -- --ratings FILE.csv  |  ' +
  'npm run eval -- --from-fhir FHIR_BASE [--token TOKEN] [--json FILE]';

const pct = (value: number): string => (Number.isNaN(value) ? '—' : `${(value * 100).toFixed(1)}%`);
const num = (value: number): string => (Number.isNaN(value) ? '—' : value.toFixed(3));
const withCi = (format: (v: number) => string, metric: { value: number; ci: [number, number] }): string =>
  `${format(metric.value)} [${format(metric.ci[0])}, ${format(metric.ci[1])}]`;

async function findGroundTruthFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name === 'ground-truth.json')
    .map((entry) => path.join(entry.parentPath, entry.name));
}

function printTask(report: TaskReport): void {
  const { classification: c } = report;
  console.log(`\n${report.task.toUpperCase()} (${report.items} disc levels)`);
  console.log(`  mean IoU (matched, IoU ≥ 0.5)  ${withCi(num, report.meanIoU)}   (docs/msu.md §Evaluation: any label)`);
  console.log(`  recall at IoU ≥ 0.5            ${withCi(pct, report.recall)}`);
  console.log(
    `  class-aware (box must also carry the true ${report.task === 'grading' ? 'grade' : 'zone'}): mean IoU ${num(report.classAware.meanIoU)}, recall ${withCi(pct, report.classAware.recall)}`,
  );
  console.log(`  Gwet's AC1                     ${withCi(num, report.ac1)}`);
  console.log(`  Cohen's kappa                  ${withCi(num, report.kappa)}`);
  console.log(`  percent agreement              ${withCi(pct, report.percentAgreement)}`);
  console.log(
    `  sensitivity macro / micro      ${withCi(pct, c.macro.sensitivity)} / ${withCi(pct, c.micro.sensitivity)}`,
  );
  console.log(
    `  specificity macro / micro      ${withCi(pct, c.macro.specificity)} / ${withCi(pct, c.micro.specificity)}`,
  );
  console.log('  per class (one-vs-rest)        sensitivity                 specificity');
  for (const m of c.perClass) {
    console.log(`    ${m.category.padEnd(28)} ${withCi(pct, m.sensitivity).padEnd(27)} ${withCi(pct, m.specificity)}`);
  }
  console.log(`  confusion matrix (rows truth, columns model): ${c.categories.join(' ')}`);
  c.confusion.forEach((row, i) => {
    console.log(`    ${(c.categories[i] ?? '').padEnd(5)} ${row.map((v) => String(v).padStart(5)).join('')}`);
  });
}

function printPaperComparison(grading: TaskReport, localization: TaskReport): void {
  console.log('\nSIDE BY SIDE with Xu et al. 2024 (internal / external test sets)');
  console.log('  metric                 task           this model   paper internal   paper external');
  for (const report of [grading, localization]) {
    const rows: [string, number, keyof (typeof PAPER_FIGURES)['internal']['grading'], (v: number) => string][] = [
      ['mean IoU', report.meanIoU.value, 'meanIoU', num],
      ['recall', report.recall.value, 'recall', pct],
      ["Gwet's AC1", report.ac1.value, 'ac1', num],
      ['sensitivity (macro)', report.classification.macro.sensitivity.value, 'sensitivity', pct],
      ['specificity (macro)', report.classification.macro.specificity.value, 'specificity', pct],
    ];
    for (const [label, value, key, format] of rows) {
      console.log(
        `  ${label.padEnd(22)} ${report.task.padEnd(14)} ${format(value).padStart(10)} ${format(PAPER_FIGURES.internal[report.task][key]).padStart(16)} ${format(PAPER_FIGURES.external[report.task][key]).padStart(16)}`,
      );
    }
    const [s1, s2] = PAPER_SURGEON_AC1[report.task];
    console.log(`  (paper: surgeons' AC1 against the expert, ${report.task}: ${num(s1)} and ${num(s2)})`);
  }
}

async function evaluateFolder(dataDir: string, modelDir: string, jsonFile: string | undefined): Promise<number> {
  const config = loadConfig();
  const truthFiles = await findGroundTruthFiles(dataDir);
  if (truthFiles.length === 0) {
    console.error(
      `error: no ground-truth.json under ${dataDir} (expected one sub-folder per study with its DICOM files)`,
    );
    return 1;
  }
  const truths = new Map<string, Findings>();
  for (const file of truthFiles) {
    const truth = JSON.parse(await readFile(file, 'utf8')) as Findings;
    truths.set(truth.studyInstanceUid, truth);
  }
  const folder = await loadDicomFolder(dataDir, { maxFileBytes: config.MAX_DICOM_FILE_BYTES });
  // ground-truth.json and the generator's fhir.json sit beside the DICOM files by design.
  for (const problem of folder.problems.filter((p) => !p.file.endsWith('.json'))) {
    console.error(`skipped ${problem.file}: ${problem.reason}`);
  }
  const detector = await createDetectorSession(modelDir, undefined, {
    executionProvider: config.INFERENCE_EP,
    batchSize: config.INFERENCE_BATCH,
  });
  console.log(
    `model ${detector.manifest.id} ${detector.manifest.version} (${detector.executionProvider}); ${truths.size} labelled studies in ${dataDir}`,
  );
  const pairs: StudyPair[] = [];
  let inferenceMs = 0;
  let slices = 0;
  for (const study of folder.studies) {
    const truth = truths.get(study.studyInstanceUid);
    if (!truth) continue;
    try {
      const analysis = await analyzeImages(study.source, study.studyInstanceUid, detector, {
        onStage: (stage, ms) => {
          if (stage === 'inference') inferenceMs += ms;
        },
      });
      slices += analysis.slices;
      pairs.push({ truth, predicted: analysis.findings });
    } catch (error) {
      console.error(
        `study ${study.studyInstanceUid} not analyzed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  await detector.release?.();
  const missing = truths.size - pairs.length;
  if (pairs.length === 0) {
    console.error('error: no labelled study could be analyzed');
    return 1;
  }
  console.log(
    `metric variants: IoU matching label-free (a box of any grade or zone counts; the headline mean IoU and recall, ` +
      `and the ones set beside the paper) with class-aware matching per task as the secondary figure, greedy by ` +
      `score, same slice and level; sensitivity and specificity one-vs-rest per class, overall = macro over ` +
      `herniation classes present (micro beside it); ` +
      `95% CIs: Wilson for proportions, percentile bootstrap (1000 resamples, seeded) for AC1, kappa and mean IoU.` +
      (missing > 0 ? ` ${missing} labelled study(ies) not analyzed count as missing.` : ''),
  );
  const grading = evaluateTask(pairs, 'grading');
  const localization = evaluateTask(pairs, 'localization');
  const keySlice = keySliceAgreement(pairs);
  printTask(grading);
  printTask(localization);
  console.log(
    `\nkey slice: the truth's (largest herniation, where MSU is read) for ${keySlice.onKeySlice} of the ` +
      `${keySlice.found} herniated levels found: ${withCi(pct, keySlice)}`,
  );
  const inferenceMsPerSlice = slices > 0 ? inferenceMs / slices : Number.NaN;
  console.log(
    `\ninference: ${inferenceMsPerSlice.toFixed(2)} ms per slice (${slices} slices, ${detector.executionProvider})`,
  );
  printPaperComparison(grading, localization);
  if (jsonFile) {
    const json = {
      grading: taskReportToJson(grading),
      localization: taskReportToJson(localization),
      keySlice: { value: keySlice.value, ci: keySlice.ci },
      inferenceMsPerSlice,
    };
    await writeFile(jsonFile, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\nwrote ${jsonFile}`);
  }
  return 0;
}

function printAgreementRow(label: string, summary: AgreementSummary): void {
  const agreement = summary.items > 0 ? `${pct(summary.percentAgreement)} (${summary.agreeing}/${summary.items})` : '—';
  console.log(
    `  ${label.padEnd(22)} ${String(summary.items).padStart(5)}   ${agreement.padEnd(17)} ${num(summary.ac1).padStart(10)} ${num(summary.kappa).padStart(13)}`,
  );
}

function printConfusion(label: string, summary: AgreementSummary): void {
  console.log(`  confusion matrix, ${label} (rows AI, columns signed): ${summary.categories.join(' ')}`);
  summary.confusion.forEach((row, i) => {
    console.log(`    ${(summary.categories[i] ?? '').padEnd(7)} ${row.map((v) => String(v).padStart(5)).join('')}`);
  });
}

function printReviewReport(report: ReviewAgreementReport): void {
  const { model } = report;
  console.log(
    `\n${model.id} ${model.version}: ${report.reports} signed report(s), ${report.levels} levels reviewed — ` +
      `${report.confirmed} confirmed, ${report.edited} edited, ${report.rejected} rejected`,
  );
  const reasons = Object.entries(report.rejectionReasons)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, count]) => `${code} ${count}`);
  if (reasons.length > 0) console.log(`  rejection reasons: ${reasons.join(', ')}`);
  console.log(`  AI vs signed reading    items   agreement         Gwet's AC1  Cohen's kappa`);
  printAgreementRow('herniation presence', report.presence);
  printAgreementRow('MSU grade', report.grade);
  printAgreementRow('MSU zone', report.zone);
  printConfusion('presence', report.presence);
  printConfusion('grade', report.grade);
  printConfusion('zone', report.zone);
}

/** NaN (an undefined statistic) as null in the JSON report. */
const jsonNumber = (value: number): number | null => (Number.isNaN(value) ? null : value);
const summaryToJson = (summary: AgreementSummary) => ({
  ...summary,
  percentAgreement: jsonNumber(summary.percentAgreement),
  ac1: jsonNumber(summary.ac1),
  kappa: jsonNumber(summary.kappa),
});

async function evaluateReviews(fhirBase: string, token: string | undefined, jsonFile: string | undefined) {
  if (!token) {
    console.error('error: --from-fhir needs an access token: --token TOKEN or the environment variable FHIR_TOKEN');
    return 2;
  }
  const reviews = await readSignedReviews(createFhirClient(fhirBase, token));
  const reports = reviewAgreement(reviews);
  console.log(
    `ldh-cds clinician reviews on ${fhirBase}: ${reviews.length} signed report(s) (status final or amended), ` +
      `${reports.length} model version(s)`,
  );
  console.log(
    'presence: every reviewed level, a rejected finding counted as its opposite; grade and zone: the confirmed and ' +
      'edited levels, "none" = no herniation (models/evaluation/review-agreement.ts)',
  );
  for (const report of reports) printReviewReport(report);
  if (jsonFile) {
    const json = {
      source: fhirBase,
      signedReports: reviews.length,
      models: reports.map((report) => ({
        ...report,
        presence: summaryToJson(report.presence),
        grade: summaryToJson(report.grade),
        zone: summaryToJson(report.zone),
      })),
    };
    await writeFile(jsonFile, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\nwrote ${jsonFile}`);
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      model: { type: 'string' },
      json: { type: 'string' },
      ratings: { type: 'string' },
      'from-fhir': { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.ratings) {
    const { raterA, raterB, header } = parseRatingsCsv(await readFile(values.ratings, 'utf8'));
    const report = ratingsReport(raterA, raterB);
    const names = header ? `${header[0]} vs ${header[1]}` : 'column 1 vs column 2';
    console.log(`${names}: ${report.items} items, categories ${report.categories.join(', ')}`);
    console.log(`  Gwet's AC1          ${withCi(num, report.ac1)}`);
    console.log(`  Cohen's kappa       ${withCi(num, report.kappa)}`);
    console.log(`  percent agreement   ${withCi(pct, report.percentAgreement)}`);
    return 0;
  }
  if (values['from-fhir']) {
    return evaluateReviews(values['from-fhir'], values.token ?? process.env.FHIR_TOKEN, values.json);
  }
  if (!values.data) {
    console.error(USAGE);
    return 2;
  }
  return evaluateFolder(values.data, values.model ?? loadConfig().MODEL_DIR, values.json);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);

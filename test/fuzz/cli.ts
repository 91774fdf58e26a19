/**
 * `npm run fuzz -- [--files N] [--seed S] [--workers W] [--time-limit-s T] [--file-timeout-s T] [--heap-mb M]
 *  [--only i,j] [--failures DIR] [--json FILE]`: the DICOM fuzzer (run-fuzz.ts). Prints the files, the time, the peak
 * RSS and every reason grouped by kind; exits 1 on any crash, hang, unclassified error or non-finite output.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatReport, runFuzz } from './run-fuzz';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '5000' },
    seed: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    'time-limit-s': { type: 'string' },
    'file-timeout-s': { type: 'string', default: '30' },
    'heap-mb': { type: 'string', default: '512' },
    only: { type: 'string' },
    failures: { type: 'string' },
    json: { type: 'string' },
    'phantom-only': { type: 'boolean', default: false },
  },
});

function count(name: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer of at least ${min}, got ${value}`);
    process.exit(2);
  }
  return n;
}

const timeLimit = count('time-limit-s', values['time-limit-s']);
const report = await runFuzz({
  files: count('files', values.files) ?? 5000,
  seed: count('seed', values.seed, 0) ?? 1,
  workers: count('workers', values.workers) ?? 2,
  fileTimeoutMs: (count('file-timeout-s', values['file-timeout-s']) ?? 30) * 1000,
  heapMb: count('heap-mb', values['heap-mb'], 64) ?? 512,
  ...(timeLimit === undefined ? {} : { timeLimitMs: timeLimit * 1000 }),
  ...(values.only ? { only: values.only.split(',').map((i) => count('only', i, 0) ?? 0) } : {}),
  ...(values.failures ? { failuresDir: values.failures } : {}),
  phantomOnly: values['phantom-only'],
  log: (line) => {
    console.error(line);
  },
});
console.log(formatReport(report));
if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
process.exit(report.failures.length > 0 ? 1 : 0);

// @ts-check
/**
 * The dependency direction of ldh-cds, checked by `npm run lint` (dependency-cruiser). See docs/architecture.md.
 *
 *   findings/  upstream/                       the findings contract and the upstream-request error: import nothing
 *        ↑         ↑
 *   dicomweb/  dicom/  inference/  fhir/  sr/  the stages: each imports only itself, findings/ and upstream/
 *        ↑
 *   pipeline/   cds-hooks/                     compose the stages (cds-hooks is also an HTTP router: it may use http/)
 *        ↑
 *   jobs/                                      analyses as jobs: the engine interface and its implementations
 *        ↑
 *   http/      arrival/                        routes, errors, security; analyze on arrival (neither imports the other)
 *        ↑
 *   app.ts  main.ts  worker.ts  worker-main.ts  watch-arrivals.ts  cli/   wiring and entry points
 *
 * config.ts is read by the top layers (app, cli, pipeline's `pipelineOptionsFromConfig`); it imports two constants
 * from the stages it configures — `defaultDecodeThreads` (dicom/decode-pool) and `EXECUTION_PROVIDERS`
 * (inference/execution-provider) — so that the schema and the stage agree on one list. That is a downward import and
 * allowed; a stage importing config.ts is not (a stage takes its settings as options).
 *
 * Test files (`*.test.ts`) may reach across stages to build fixtures, but never form a cycle; the client imports
 * only types from the server; nothing under server/ imports mock-ehr/ (they talk over HTTP only); nothing outside
 * test files and test/ imports test/.
 */
const STAGES = '(dicomweb|dicom|inference|fhir|sr)';
const TEST_FILE = '\\.test\\.tsx?$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make the layers meaningless (and load order fragile): break the cycle.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'findings-imports-nothing',
      severity: 'error',
      comment:
        'server/src/findings is the findings contract every stage, the client and the models share: it imports none of them.',
      from: { path: '^server/src/findings/' },
      to: { path: '^(server|client|models|mock-ehr|test|smart-config)/', pathNot: '^server/src/findings/' },
    },
    {
      name: 'upstream-imports-nothing',
      severity: 'error',
      comment: 'server/src/upstream is shared by the retrieval stages: it imports nothing of the project.',
      from: { path: '^server/src/upstream/' },
      to: { path: '^(server|client|models|mock-ehr|test|smart-config)/', pathNot: '^server/src/upstream/' },
    },
    {
      name: 'stages-do-not-import-each-other',
      severity: 'error',
      comment:
        'A stage (dicomweb, dicom, inference, fhir, sr) imports only itself, findings/ and upstream/; pipeline/ and cds-hooks/ compose stages.',
      from: { path: `^server/src/${STAGES}/`, pathNot: TEST_FILE },
      to: { path: `^server/src/${STAGES}/`, pathNot: '^server/src/$1/' },
    },
    {
      name: 'stages-know-no-composition-or-http',
      severity: 'error',
      comment:
        'A stage knows nothing of who composes or serves it: no http/, pipeline/, cds-hooks/, jobs/, cli/, app, main or config (settings come in as options).',
      from: { path: `^server/src/${STAGES}/`, pathNot: TEST_FILE },
      to: {
        path: '^server/src/((http|pipeline|cds-hooks|jobs|arrival|cli)/|(app|main|worker|worker-main|watch-arrivals|config)\\.ts$)',
      },
    },
    {
      name: 'inference-knows-no-dicom-or-fhir',
      severity: 'error',
      comment: 'inference/ works on pixels and boxes: no DICOM or FHIR module, library or type.',
      from: { path: '^server/src/inference/', pathNot: TEST_FILE },
      to: {
        path: [
          '^server/src/(dicom|dicomweb|fhir|sr)/',
          '(^|/)node_modules/(dcmjs|dcmjs-codecs|dicomweb-client|@medplum/[^/]+|@types/fhir|fhir)/',
        ],
      },
    },
    {
      name: 'pipeline-knows-no-http',
      severity: 'error',
      comment:
        'pipeline/ is used by the API, the jobs and the command line alike: it throws PipelineError, http/ maps it to a status.',
      from: { path: '^server/src/pipeline/', pathNot: TEST_FILE },
      to: {
        path: '^server/src/((http|cds-hooks|jobs|arrival|cli)/|(app|main|worker|worker-main|watch-arrivals)\\.ts$)',
      },
    },
    {
      name: 'jobs-know-no-http',
      severity: 'error',
      comment:
        'jobs/ runs the pipeline for the API and for queue workers: it knows no HTTP (the wiring hands it how to describe a failure, seal a job and get a token).',
      from: { path: '^server/src/jobs/', pathNot: TEST_FILE },
      to: { path: '^server/src/((http|cds-hooks|arrival|cli)/|(app|main|worker|worker-main|watch-arrivals)\\.ts$)' },
    },
    {
      name: 'arrival-knows-no-http-or-wiring',
      severity: 'error',
      comment:
        'arrival/ (analyze on arrival) composes the pipeline and the jobs like cds-hooks/, but takes its token, rules and store as options: no http/, cds-hooks/, cli/ or wiring (watch-arrivals.ts wires it).',
      from: { path: '^server/src/arrival/', pathNot: TEST_FILE },
      to: { path: '^server/src/((http|cds-hooks|cli)/|(app|main|worker|worker-main|watch-arrivals|config)\\.ts$)' },
    },
    {
      name: 'http-does-not-import-cds-hooks-or-cli',
      severity: 'error',
      comment: 'http/ serves the pipeline; app.ts wires http/ and cds-hooks/ side by side.',
      from: { path: '^server/src/http/', pathNot: TEST_FILE },
      to: { path: '^server/src/((cds-hooks|arrival|cli)/|(app|main|worker|worker-main|watch-arrivals)\\.ts$)' },
    },
    {
      name: 'server-never-imports-mock-ehr',
      severity: 'error',
      comment:
        'The product talks to the mock EHR only over HTTP (the mock EHR may import from server/, not the reverse).',
      from: { path: '^server/' },
      to: { path: '^mock-ehr/' },
    },
    {
      name: 'production-never-imports-test',
      severity: 'error',
      comment: 'Only test files and test/ itself import test/: move what the product needs into the product.',
      from: { path: '^(server|client|models|mock-ehr|smart-config)/', pathNot: TEST_FILE },
      to: { path: '^test/' },
    },
    {
      name: 'client-imports-only-types-from-server',
      severity: 'error',
      comment:
        'The browser bundle must not pull server code in: `import type` from server/ only — except the findings ' +
        'contract (server/src/findings/), which imports nothing and whose constants (levels, header names) both sides share.',
      from: { path: '^client/' },
      to: { path: '^server/', pathNot: '^server/src/findings/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing (a moved file, a typo).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^client/dist/|(^|/)\\.data/|^docs/|^scratch/' },
    // `import type` counts: a type-only import still ties the modules together (and the client rule needs to see it).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
      // @medplum/fhirtypes is types only (an empty `main`): resolve it through `types`.
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};

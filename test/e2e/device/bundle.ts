/**
 * esbuild for the device bundle (build.sh): the bench and the decode worker as single ES modules. Our sources call
 * require() through createRequire(import.meta.url) for CommonJS packages (dcmjs and others); here that line is dropped
 * so that esbuild sees the require() calls and bundles those packages, and the banner gives the bundle a require of
 * its own for what stays outside (onnxruntime-node, piscina, require.resolve).
 */
import { readFile } from 'node:fs/promises';
import { build, type BuildOptions, type Plugin } from 'esbuild';

const [outDir = '.device'] = process.argv.slice(2);
const OWN_REQUIRE = /^const require = createRequire\(import\.meta\.url\);$/m;
const bundleRequires: Plugin = {
  name: 'bundle-requires',
  setup(context) {
    context.onLoad({ filter: /[\\/](server|models)[\\/].*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replace(OWN_REQUIRE, ''), loader: 'ts' };
    });
  },
};
const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // Small enough to travel: the repository and .device share a device call's 64 MiB.
  minify: true,
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  external: ['onnxruntime-node', 'onnxruntime-common', 'piscina', '@cornerstonejs/*'],
  plugins: [bundleRequires],
};
await build({ ...common, entryPoints: ['test/e2e/device/bench-local-entry.ts'], outfile: `${outDir}/bench.mjs` });
await build({ ...common, entryPoints: ['server/src/dicom/decode-worker.ts'], outfile: `${outDir}/decode-worker.mjs` });

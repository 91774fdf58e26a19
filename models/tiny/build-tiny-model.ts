/** `tsx models/tiny/build-tiny-model.ts [outDir]`: writes the tiny phantom detector and its manifest (first step of `npm run build`). */
import path from 'node:path';
import { buildTinyModel, TINY_MODEL_DIR } from './tiny-model';

const dir = process.argv[2] ? path.resolve(process.argv[2]) : TINY_MODEL_DIR;
const built = await buildTinyModel(dir);
console.log(
  `${built.changed ? 'wrote' : 'up to date:'} ${path.relative(process.cwd(), built.modelPath)} + manifest.json`,
);

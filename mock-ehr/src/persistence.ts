/**
 * Optional file persistence (MOCK_EHR_PERSIST=true), so a demo survives a restart: after every change the FHIR
 * resources are written to `{dataDir}/fhir-resources.json` (current versions; history restarts) and every STOW-RS
 * instance to `{dataDir}/dicom/`. At start the synthetic seed is rebuilt first, then the saved state is laid over it.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { getResourceTypes, parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { DicomStore, StoredInstance } from './dicomweb/dicom-store';
import type { FhirEngine } from './fhir/fhir-engine';

const RESOURCES_FILE = 'fhir-resources.json';
const DICOM_DIR = 'dicom';
const SAVE_DELAY_MS = 200;

export class Persistence {
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly engine: FhirEngine,
    private readonly store: DicomStore,
    private readonly logger: Logger,
  ) {}

  /** Lays the saved resources and instances over the freshly seeded state. */
  async restore(): Promise<{ resources: number; instances: number }> {
    let resources: Resource[] = [];
    try {
      resources = JSON.parse(await readFile(path.join(this.dataDir, RESOURCES_FILE), 'utf8')) as Resource[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const resource of resources) {
      if (resource.id === undefined) continue;
      const exists = await this.engine.repo.readResource(resource.resourceType, resource.id).then(
        () => true,
        () => false,
      );
      if (exists) await this.engine.repo.updateResource(resource);
      else await this.engine.repo.createResource(resource);
    }
    let instances = 0;
    const dir = path.join(this.dataDir, DICOM_DIR);
    const files = await readdir(dir).catch(() => [] as string[]);
    for (const file of files.filter((name) => name.endsWith('.dcm'))) {
      this.store.add(new Uint8Array(await readFile(path.join(dir, file))));
      instances++;
    }
    if (resources.length > 0 || instances > 0) {
      this.logger.info({ resources: resources.length, instances }, 'restored the saved sandbox state');
    }
    return { resources: resources.length, instances };
  }

  /** Debounced: many writes of one transaction make one save. */
  scheduleSave(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.saving = this.saving
        .then(() => this.save())
        .catch((error: unknown) => {
          this.logger.error({ err: error }, 'could not save the sandbox state');
        });
    }, SAVE_DELAY_MS);
  }

  async saveInstance(instance: StoredInstance): Promise<void> {
    const dir = path.join(this.dataDir, DICOM_DIR);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${instance.sopInstanceUid}.dcm`), instance.part10);
  }

  /** Waits for a pending save (close, tests). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.saving = this.saving.then(() => this.save());
    }
    await this.saving;
  }

  private async save(): Promise<void> {
    const all: Resource[] = [];
    for (const type of getResourceTypes()) {
      all.push(...(await this.engine.repo.searchResources(parseSearchRequest(`${type}?_count=100000`))));
    }
    await mkdir(this.dataDir, { recursive: true });
    const file = path.join(this.dataDir, RESOURCES_FILE);
    await writeFile(`${file}.tmp`, JSON.stringify(all));
    await rename(`${file}.tmp`, file);
  }
}

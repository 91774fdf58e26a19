/** The small part of dcmjs (no bundled types) that the server's tests use to build DICOM fixtures. */
declare module 'dcmjs' {
  export namespace data {
    class DicomDict {
      constructor(meta: Record<string, unknown>);
      meta: Record<string, unknown>;
      dict: Record<string, { vr: string; Value?: unknown[] }>;
      write(options?: Record<string, unknown>): ArrayBuffer;
    }
    const DicomMessage: {
      readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): DicomDict;
    };
    const DicomMetaDictionary: {
      denaturalizeDataset(dataset: Record<string, unknown>): Record<string, { vr: string; Value?: unknown[] }>;
      naturalizeDataset(dataset: Record<string, unknown>): Record<string, unknown>;
      uid(): string;
    };
  }
  const dcmjs: { data: typeof data };
  export default dcmjs;
}

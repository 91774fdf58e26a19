/** A findings/source pair that cannot become an SR, or bytes that are not one of ours; the message names what. */
export class StructuredReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StructuredReportError';
  }
}

/** multipart/related bodies for WADO-RS (RFC 2387; PS3.18 §8.7.3.5, §10.4.3). */
import { randomBytes } from 'node:crypto';

export interface MultipartPart {
  contentType: string;
  body: Uint8Array;
  contentLocation?: string;
}

export interface MultipartBody {
  contentType: string;
  body: Buffer;
}

export function buildMultipartRelated(
  type: string,
  parts: readonly MultipartPart[],
  transferSyntax?: string,
): MultipartBody {
  const boundary = `ldh-mock-ehr-${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const headers = [`Content-Type: ${part.contentType}`];
    if (part.contentLocation) headers.push(`Content-Location: ${part.contentLocation}`);
    chunks.push(
      Buffer.from(`--${boundary}\r\n${headers.join('\r\n')}\r\n\r\n`),
      Buffer.from(part.body),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  const syntax = transferSyntax ? `; transfer-syntax=${transferSyntax}` : '';
  return {
    contentType: `multipart/related; type="${type}"${syntax}; boundary=${boundary}`,
    body: Buffer.concat(chunks),
  };
}

import { randomBytes } from 'node:crypto';

/** The one file part of an upload: its bytes come from `data`, which must yield exactly `size` bytes. */
export interface MultipartFile {
  field: string;
  filename: string;
  contentType: string;
  size: number;
  data: AsyncIterable<Uint8Array>;
}

export interface MultipartBody {
  /** `multipart/form-data; boundary=...` */
  contentType: string;
  /** Exact byte length of `body`: uploads are sent with Content-Length, not chunked. */
  contentLength: number;
  body: AsyncIterable<Uint8Array>;
}

/**
 * A multipart/form-data body that streams its file part from `file.data` (never held in memory) and whose
 * length is known up front. Text fields come first, as in the providers' documented `curl -F` examples,
 * so a server parsing the stream knows the purpose before the file arrives.
 */
export function multipartBody(fields: Record<string, string>, file: MultipartFile): MultipartBody {
  const boundary = `batchkeeper-${randomBytes(16).toString('hex')}`;
  let head = '';
  for (const [name, value] of Object.entries(fields))
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${escape(name)}"\r\n\r\n${value}\r\n`;
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="${escape(file.field)}"; ` +
    `filename="${escape(file.filename)}"\r\nContent-Type: ${file.contentType}\r\n\r\n`;
  const headBytes = Buffer.from(head, 'utf8');
  const tailBytes = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');

  async function* body(): AsyncGenerator<Uint8Array> {
    yield headBytes;
    let sent = 0;
    for await (const chunk of file.data) {
      sent += chunk.byteLength;
      // Never send more than announced: the request would be cut short or misparsed.
      if (sent > file.size)
        throw new Error(`${file.filename} grew while uploading (past ${file.size} bytes)`);
      yield chunk;
    }
    if (sent !== file.size) throw new Error(`${file.filename} has ${sent} bytes, expected ${file.size}`);
    yield tailBytes;
  }

  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: headBytes.length + file.size + tailBytes.length,
    body: body(),
  };
}

/** As the openai SDK does: quotes, backslashes and line breaks may not appear raw in a header parameter. */
function escape(value: string): string {
  return value.replace(/["\\\r\n]/g, (c) => encodeURIComponent(c));
}

// Standard Webhooks signing done here with node:crypto alone, independently of the code under test.
import { createHmac, randomBytes } from 'node:crypto';

export function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed by the base64-decoded part after `whsec_`. */
export function signature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export function signedHeaders(
  secret: string,
  id: string,
  body: string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature(secret, id, timestamp, body),
  };
}

let counter = 0;
/** A batch event as OpenAI sends it; `webhookId` doubles as the event id unless given. */
export function batchEvent(
  batchId: string,
  type = 'batch.completed',
  eventId = `evt_${process.pid}_${++counter}`,
): { id: string; body: string } {
  const body = JSON.stringify({
    id: eventId,
    object: 'event',
    type,
    created_at: Math.floor(Date.now() / 1000),
    data: { id: batchId },
  });
  return { id: eventId, body };
}

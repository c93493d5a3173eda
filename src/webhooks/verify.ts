import OpenAI, { InvalidWebhookSignatureError } from 'openai';
import { z } from 'zod';

/** Standard Webhooks' default, and the `openai` SDK's: deliveries older or newer than this are refused. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const REQUIRED_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/** Only what forwarding needs; other fields (OpenAI adds `object`, future fields) pass through unread. */
const eventSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  created_at: z.number().finite(),
  data: z
    .object({ id: z.string().min(1).max(256).optional() })
    .loose()
    .optional(),
});

export type WebhookEvent = z.infer<typeof eventSchema>;

export type Verification =
  { ok: true; webhookId: string; event: WebhookEvent } | { ok: false; status: 400 | 401; reason: string };

type RawHeaders = Record<string, string | string[] | undefined>;

/**
 * Checks one delivery against one endpoint's signing secret with the `openai` SDK (HMAC-SHA256 over
 * `id.timestamp.body`, timing-safe, timestamp within the tolerance both ways). The raw body is what was signed:
 * it must reach here exactly as received, never re-serialized JSON.
 */
export class DeliveryVerifier {
  private readonly client: OpenAI;

  constructor(
    private readonly secret: string,
    private readonly toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
  ) {
    // No API call is ever made with this client: it only lends its webhook verification.
    this.client = new OpenAI({ apiKey: 'unused', webhookSecret: secret });
  }

  async verify(rawBody: string, headers: RawHeaders): Promise<Verification> {
    const picked: Record<string, string> = {};
    for (const name of REQUIRED_HEADERS) {
      const value = headers[name];
      if (typeof value !== 'string' || value === '') {
        return { ok: false, status: 400, reason: `missing header ${name}` };
      }
      picked[name] = value;
    }
    try {
      await this.client.webhooks.verifySignature(rawBody, picked, this.secret, this.toleranceSeconds);
    } catch (err) {
      if (err instanceof InvalidWebhookSignatureError) return { ok: false, status: 401, reason: err.message };
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(rawBody);
    } catch {
      return { ok: false, status: 400, reason: 'the body is not JSON' };
    }
    const parsed = eventSchema.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      return {
        ok: false,
        status: 400,
        reason: `not an event: ${first.path.join('.') || 'body'}: ${first.message}`,
      };
    }
    return { ok: true, webhookId: picked['webhook-id'], event: parsed.data };
  }
}

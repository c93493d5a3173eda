import type { ProblemList } from './failures';
import { RESERVED_TAGS, TAG_CHUNK, TAG_CONTENT, TAG_WORKFLOW_ID, type ProviderLimits } from './limits';

/** The metadata sent with a batch: the user's, plus the tags that let a retried create find its batch. */
export function batchMetadata(
  user: Record<string, string> | undefined,
  workflowId: string,
  chunkIndex: number | undefined,
  contentKey: string,
): Record<string, string> {
  const m: Record<string, string> = { ...(user ?? {}) };
  m[TAG_WORKFLOW_ID] = workflowId;
  if (chunkIndex !== undefined) m[TAG_CHUNK] = String(chunkIndex);
  m[TAG_CONTENT] = contentKey;
  return m;
}

/** A batch's metadata without our tags: what the user sent. */
export function userMetadata(m: Record<string, unknown> | null | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m ?? {}).filter(([k]) => !RESERVED_TAGS.includes(k)));
}

export function sameMetadata(
  a: Record<string, unknown> | null | undefined,
  b: Record<string, unknown> | null | undefined,
): boolean {
  const ea = Object.entries(a ?? {});
  const eb = b ?? {};
  return ea.length === Object.keys(eb).length && ea.every(([k, v]) => eb[k] === v);
}

/** Checks user metadata as it will be sent (our tags included) against the profile's limits. */
export function checkMetadata(
  limits: ProviderLimits,
  user: Record<string, string> | undefined,
  workflowIdLength: number,
  problems: ProblemList,
): void {
  const m = limits.metadata;
  const entries = Object.entries(user ?? {});
  for (const [k] of entries) {
    if (RESERVED_TAGS.includes(k))
      problems.add(null, 'metadata_reserved_key', `metadata key '${k}' is set by batchkeeper`);
  }
  const pairs = entries.length + RESERVED_TAGS.length;
  if (pairs > m.maxPairs)
    problems.add(
      null,
      'metadata_too_many_pairs',
      `metadata would hold ${pairs} pairs (${RESERVED_TAGS.length} are batchkeeper's tags); the limit is ${m.maxPairs}`,
    );
  for (const [k, v] of entries) {
    if (typeof v !== 'string')
      problems.add(null, 'metadata_value_not_string', `metadata value of '${k}' must be a string`);
    else if (k.length > m.maxKeyChars)
      problems.add(
        null,
        'metadata_key_too_long',
        `metadata key '${k.slice(0, 20)}...' exceeds ${m.maxKeyChars} chars`,
      );
    else if (v.length > m.maxValueChars)
      problems.add(
        null,
        'metadata_value_too_long',
        `metadata value of '${k}' exceeds ${m.maxValueChars} chars`,
      );
  }
  if (workflowIdLength > m.maxValueChars)
    problems.add(
      null,
      'workflow_id_too_long',
      `the workflow id (the batch's tag) exceeds ${m.maxValueChars} chars`,
    );
  const dsName = user?.ds_name;
  if (m.dsName !== undefined && typeof dsName === 'string' && dsName.length > m.dsName)
    problems.add(null, 'ds_name_too_long', `metadata.ds_name exceeds ${m.dsName} chars (${dsName.length})`);
  const dsDescription = user?.ds_description;
  if (
    m.dsDescription !== undefined &&
    typeof dsDescription === 'string' &&
    dsDescription.length > m.dsDescription
  )
    problems.add(
      null,
      'ds_description_too_long',
      `metadata.ds_description exceeds ${m.dsDescription} chars (${dsDescription.length})`,
    );
}

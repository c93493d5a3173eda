import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../../workflows/contract';

type OperatorService = temporal.api.operatorservice.v1.OperatorService;
const { IndexedValueType } = temporal.api.enums.v1;

const TYPES = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Bool: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
} as const;

const UNIMPLEMENTED = 12;

export type RegistrationResult = { registered: string[]; existing: string[] } | { error: string };

/**
 * Registers the Batch* search attributes that are missing. Self-hosted and dev servers allow it; Temporal Cloud
 * does not (create them with tcld or the Cloud UI): the caller logs the error and carries on.
 */
export async function registerSearchAttributes(
  operator: OperatorService,
  namespace: string,
): Promise<RegistrationResult> {
  try {
    // The time-skipping test server implements add but not list: then add them all.
    const existing = await operator.listSearchAttributes({ namespace }).then(
      (listed) => Object.keys(listed.customAttributes ?? {}),
      (err: { code?: number }) => {
        if (err.code === UNIMPLEMENTED) return [] as string[];
        throw err;
      },
    );
    const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !existing.includes(name));
    if (missing.length > 0) {
      await operator.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, TYPES[type]])),
      });
    }
    return {
      registered: missing.map(([name]) => name),
      existing: Object.keys(SEARCH_ATTRIBUTES).filter((n) => existing.includes(n)),
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

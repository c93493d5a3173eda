import { formatRows } from '../../src/ledger';
import type { LedgerFormat, LedgerRow } from '../../src/ledger';
import { LEDGER_COLUMNS } from '../../src/ledger/types';
import { row } from './fixtures';

/** A strict RFC 4180 reader, to prove the writer's output parses back to the same values. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let fields: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quote');
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (text[i] === '"') {
          i++;
          break;
        } else field += text[i++];
      }
    }
    if (text.startsWith('\r\n', i)) {
      records.push([...fields, field]);
      fields = [];
      field = '';
      i += 2;
    } else if (text[i] === ',') {
      fields.push(field);
      field = '';
      i++;
    } else if (i < text.length) {
      if (text[i] === '"' || text[i] === '\n' || text[i] === '\r')
        throw new Error(`bare ${JSON.stringify(text[i])} at ${i}`);
      field += text[i++];
    }
  }
  if (field !== '' || fields.length) throw new Error('last record lacks CRLF');
  return records;
}

const tricky = row({
  batchId: 'batch_tricky',
  status: 'cancelled',
  model: null,
  cancelReason: 'over budget, says "finance"\nsee ticket\r\nFIN-12',
  cancelRequestedBy: 'svc,billing',
  cancelRequestedAt: '2026-01-10T08:20:00.000Z',
  estimatedCostUsd: 0.0000001,
});
const plain = row({ batchId: 'batch_plain', estimatedCostUsd: 12.5, inputTokens: 5_000_000_000 });

describe('csv', () => {
  const csv = formatRows([plain, tricky], 'csv');
  const records = parseCsv(csv);

  test('has a header of every column and one record per row, CRLF terminated', () => {
    expect(records[0]).toEqual(LEDGER_COLUMNS.map(([, c]) => c));
    expect(records[0].slice(0, 3)).toEqual(['batch_id', 'provider', 'endpoint']);
    expect(records).toHaveLength(3);
    expect(csv.endsWith('\r\n')).toBe(true);
  });

  test('quotes commas, quotes and newlines so they parse back unchanged', () => {
    const byName = Object.fromEntries(records[0].map((c, i) => [c, records[2][i]]));
    expect(byName.cancel_reason).toBe(tricky.cancelReason);
    expect(byName.cancel_requested_by).toBe('svc,billing');
    expect(csv).toContain('"over budget, says ""finance""\nsee ticket\r\nFIN-12"');
    expect(csv).toContain(',"svc,billing",');
  });

  test('leaves plain fields unquoted, writes null as empty and numbers without exponents', () => {
    const byName = Object.fromEntries(records[0].map((c, i) => [c, records[2][i]]));
    expect(byName.model).toBe('');
    expect(byName.estimated_cost_usd).toBe('0.0000001');
    const first = Object.fromEntries(records[0].map((c, i) => [c, records[1][i]]));
    expect(first.input_tokens).toBe('5000000000');
    expect(first.estimated_cost_usd).toBe('12.5');
    expect(
      csv
        .split('\r\n')[1]
        .startsWith('batch_plain,openai,/v1/chat/completions,gpt-4o-mini,completed,10,9,9,1,0,'),
    ).toBe(true);
  });

  test('discrepancies are the last column, one cell of entries joined by "; "', () => {
    const flagged = row({ discrepancies: ['request_counts missing', 'results: 3 failed lines, failed = 2'] });
    const [header, record] = parseCsv(formatRows([flagged], 'csv'));
    expect(header[header.length - 1]).toBe('discrepancies');
    expect(record[record.length - 1]).toBe('request_counts missing; results: 3 failed lines, failed = 2');
    expect(records[1][records[1].length - 1]).toBe('');
  });

  test('text that a spreadsheet would run as a formula is prefixed with a quote (OWASP CSV injection)', () => {
    const starts = ['=HYPERLINK("http://x")', '+1+cmd', '-2+3', '@SUM(A1)', '\tx', '\rx'];
    const rows = starts.map((reason, i) => row({ batchId: `b${i}`, cancelReason: reason }));
    const [header, ...recs] = parseCsv(formatRows(rows, 'csv'));
    const at = header.indexOf('cancel_reason');
    expect(recs.map((r) => r[at])).toEqual(starts.map((r) => `'${r}`));
    const csv = formatRows([rows[0]], 'csv');
    // Normal quoting still applies on top: the value holds quotes.
    expect(csv).toContain(`,"'=HYPERLINK(""http://x"")",`);
    // Only the first character matters; numbers stay numbers.
    const safe = parseCsv(formatRows([row({ cancelReason: 'a=b', estimatedCostUsd: 0.5 })], 'csv'))[1];
    expect(safe[at]).toBe('a=b');
    expect(safe[header.indexOf('estimated_cost_usd')]).toBe('0.5');
    expect(safe[header.indexOf('total')]).toBe('10');
  });

  test('an empty list is the header alone', () => {
    expect(parseCsv(formatRows([], 'csv'))).toEqual([LEDGER_COLUMNS.map(([, c]) => c)]);
  });
});

test('json parses back to the rows', () => {
  const out = formatRows([plain, tricky], 'json');
  expect(JSON.parse(out) as LedgerRow[]).toEqual([plain, tricky]);
  expect(out.endsWith('\n')).toBe(true);
});

describe('table', () => {
  const rows = [
    plain,
    tricky,
    row({ batchId: 'b3', provider: 'dashscope', model: 'qwen-plus', inputTokens: 7 }),
  ];
  const text = formatRows(rows, 'table');
  const lines = text.trimEnd().split('\n');

  test('one line per row plus header, rule and totals: free-text newlines cannot break it', () => {
    expect(lines).toHaveLength(rows.length + 3);
    expect(lines[0]).toMatch(/^BATCH\s+PROVIDER\s+MODEL\s+STATUS\s+TOTAL\s+BILLED/);
    expect(lines[rows.length + 1]).toMatch(/^-+( +-+)+$/);
    expect(text).not.toMatch(/\r/);
    expect(text).toContain('over budget, says "finance" see ticket  FIN-12');
  });

  test('columns line up: every cell of a column starts at the same offset', () => {
    const statusAt = lines[0].indexOf('STATUS');
    for (const l of [lines[1], lines[2], lines[3]])
      expect(l.slice(statusAt).split(/\s+/)[0]).toMatch(/^(completed|cancelled)$/);
    // Numbers are right-aligned: each ends where its header ends.
    const billedEnd = lines[0].indexOf('BILLED') + 'BILLED'.length;
    for (const l of lines.slice(1)) {
      if (/^-+ /.test(l)) continue;
      expect(l[billedEnd - 1]).toMatch(/\d/);
      expect(l[billedEnd]).toBe(' ');
    }
  });

  test('totals sum the numeric columns, null shows as "-", and a sum over unknowns is withheld', () => {
    const footer = lines[lines.length - 1];
    expect(footer).toMatch(/^3 batches\s/);
    const cells = footer.split(/\s{2,}/);
    expect(cells).toContain('30'); // total 10 * 3
    expect(cells).toContain('27'); // billed 9 * 3
    expect(cells).toContain('5000001007'); // input tokens
    expect(cells).toContain('12.5004'); // cost 12.5 + 0.0000001 + 0.000412 at 4 places
    expect(lines[2]).toMatch(/batch_tricky\s+openai\s+-\s+cancelled/);
    const withUnknownCost = formatRows([plain, row({ batchId: 'x', estimatedCostUsd: null })], 'table');
    const unknownFooter = withUnknownCost.trimEnd().split('\n').pop() ?? '';
    expect(unknownFooter).toMatch(/^2 batches\s/);
    expect(unknownFooter).not.toContain('12.5000');
    expect(unknownFooter.trimEnd().endsWith('-')).toBe(true);
  });

  test('a flagged row shows its discrepancies on its line and the totals count the flagged rows', () => {
    const out = formatRows(
      [plain, row({ batchId: 'b_flag', discrepancies: ['counts missing', 'results disagree'] })],
      'table',
    );
    const ls = out.trimEnd().split('\n');
    expect(ls[0]).toMatch(/CANCEL REASON\s+DISCREPANCIES$/);
    expect(ls[2]).toMatch(/^b_flag .*counts missing; results disagree$/);
    expect(ls[1]).not.toMatch(/counts missing/);
    expect(ls[ls.length - 1]).toMatch(/^2 batches\s.*1 flagged$/);
    expect(formatRows([plain], 'table').trimEnd().split('\n').pop()).not.toMatch(/flagged/);
  });

  test('control characters from free text cannot reach the terminal', () => {
    const out = formatRows([row({ cancelReason: 'evil\u001b[2Jclear\u0007' })], 'table');
    expect(out.includes('\u001b') || out.includes('\u0007')).toBe(false);
    expect(out).toContain('evil [2Jclear');
  });

  test('an empty list still prints a header and a zero count', () => {
    const out = formatRows([], 'table').trimEnd().split('\n');
    expect(out[0]).toMatch(/^BATCH/);
    expect(out[out.length - 1]).toBe('0 batches');
  });
});

test('an unknown format is an error', () => {
  expect(() => formatRows([plain], 'xml' as LedgerFormat)).toThrow(/table, csv, json/);
});

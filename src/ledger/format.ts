import type { LedgerRow } from './types';
import { LEDGER_COLUMNS } from './types';

export const LEDGER_FORMATS = ['table', 'csv', 'json'] as const;
export type LedgerFormat = (typeof LEDGER_FORMATS)[number];

export function formatRows(rows: readonly LedgerRow[], format: LedgerFormat): string {
  switch (format) {
    case 'table':
      return formatTable(rows);
    case 'csv':
      return formatCsv(rows);
    case 'json':
      return JSON.stringify(rows, null, 2) + '\n';
    default:
      throw new Error(`unknown format ${String(format)}; expected one of ${LEDGER_FORMATS.join(', ')}`);
  }
}

/** RFC 4180: every column, CRLF line ends, a field quoted when it holds a comma, quote, CR or LF; formula-safe. */
export function formatCsv(rows: readonly LedgerRow[]): string {
  const lines = [LEDGER_COLUMNS.map(([, c]) => c).join(',')];
  for (const row of rows) lines.push(LEDGER_COLUMNS.map(([k]) => csvField(cellValue(row[k]))).join(','));
  return lines.map((l) => l + '\r\n').join('');
}

/** A list (discrepancies) is one cell: its entries joined by '; ', readable in a spreadsheet. */
function cellValue(value: LedgerRow[keyof LedgerRow]): string | number | null {
  return Array.isArray(value) ? joinList(value) : value;
}

function joinList(list: readonly string[] | null): string | null {
  return list && list.length > 0 ? list.join('; ') : null;
}

/**
 * Text starting with `=`, `+`, `-`, `@`, tab or CR is prefixed with `'`, so a spreadsheet shows it instead of
 * running it as a formula (OWASP CSV injection): a cancel reason comes from any service that can signal.
 * Numbers are written as they are: every ledger number is non-negative (normalizeRow), so none starts with `-`.
 */
function csvField(value: string | number | null): string {
  if (value === null) return '';
  const s = typeof value === 'number' ? plainNumber(value) : FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** Never exponent notation (`1e-7`), which spreadsheets and finance scripts misread. */
function plainNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(9).replace(/0+$/, '').replace(/\.$/, '');
}

interface TableColumn {
  title: string;
  cell: (r: LedgerRow) => string | number | null;
  /** Numeric: right-aligned and summed into the footer line. */
  sum?: boolean;
  decimals?: number;
}

// The table is for reading at a terminal: the columns finance asks about first; CSV and JSON carry all.
const TABLE_COLUMNS: readonly TableColumn[] = [
  { title: 'BATCH', cell: (r) => r.batchId },
  { title: 'PROVIDER', cell: (r) => r.provider },
  { title: 'MODEL', cell: (r) => r.model },
  { title: 'STATUS', cell: (r) => r.status },
  { title: 'TOTAL', cell: (r) => r.total, sum: true },
  { title: 'BILLED', cell: (r) => r.billed, sum: true },
  { title: 'FAILED', cell: (r) => r.failed, sum: true },
  { title: 'NOT RUN', cell: (r) => r.notRun, sum: true },
  { title: 'IN TOKENS', cell: (r) => r.inputTokens, sum: true },
  { title: 'OUT TOKENS', cell: (r) => r.outputTokens, sum: true },
  { title: 'EST. USD', cell: (r) => r.estimatedCostUsd, sum: true, decimals: 4 },
  { title: 'FINISHED', cell: (r) => r.finishedAt },
  { title: 'CANCEL REASON', cell: (r) => r.cancelReason },
  // Last, so a long text widens nothing after it; a flagged row must be seen, not only exported.
  { title: 'DISCREPANCIES', cell: (r) => joinList(r.discrepancies) },
];

export function formatTable(rows: readonly LedgerRow[]): string {
  const body = rows.map((r) => TABLE_COLUMNS.map((c) => c.cell(r)));
  const text = body.map((cells) => cells.map((v, i) => cellText(v, TABLE_COLUMNS[i])));
  const footer = TABLE_COLUMNS.map((c, i) => {
    if (i === 0) return `${rows.length} batch${rows.length === 1 ? '' : 'es'}`;
    if (c.title === 'DISCREPANCIES') {
      const flagged = rows.filter((r) => r.discrepancies?.length).length;
      return flagged ? `${flagged} flagged` : '';
    }
    if (!c.sum || rows.length === 0) return '';
    const values = body.map((b) => b[i]).filter((v): v is number => typeof v === 'number');
    // A sum over rows where some are unknown would understate: show it only when every row has a value.
    return cellText(values.length === rows.length ? values.reduce((a, b) => a + b, 0) : null, c);
  });
  const header = TABLE_COLUMNS.map((c) => c.title);
  const widths = header.map((h, i) =>
    Math.max(h.length, footer[i].length, ...text.map((cells) => cells[i].length)),
  );
  const numeric = TABLE_COLUMNS.map((c) => c.sum === true);
  const line = (cells: string[]) =>
    cells
      .map((s, i) => (numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), ...text.map(line), rule, line(footer)].join('\n') + '\n';
}

function cellText(v: string | number | null, column: TableColumn): string {
  if (v === null) return '-';
  if (typeof v === 'string') return terminalSafe(v);
  return column.decimals === undefined ? String(v) : v.toFixed(column.decimals);
}

/** Free text (a cancel reason from any service) must not break the alignment or drive the terminal. */
function terminalSafe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

/**
 * The guide's ETL pipeline: extract orders from a CSV file, normalise and aggregate them, load
 * the result as JSON.
 *
 *   dagy run examples/flows/etl_pipeline.ts \
 *     --param source=examples/data/orders.csv --param destination=out/orders.json
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { dag, task } from "dagy";

// --- Storage. Local paths for now; an s3:// branch belongs in these two functions only. ---

async function readText(location: string): Promise<string> {
  return readFile(location, "utf8");
}

async function writeText(location: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(location)), { recursive: true });
  await writeFile(location, text, "utf8");
}

// --- CSV: RFC 4180 (quoted fields, "" escapes, CRLF), enough for exported spreadsheets. ---

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  return rows.filter((r) => r.some((cell) => cell.trim() !== ""));
}

// --- Tasks ---

const COLUMNS = ["order_id", "customer", "amount", "currency", "created_at"] as const;

/** One CSV row, as text. */
export type RawOrder = Record<(typeof COLUMNS)[number], string>;

export interface Order {
  order_id: string;
  customer: string;
  /** In cents, so totals add up exactly. */
  amount_cents: number;
  currency: string;
  /** UTC, ISO 8601. */
  created_at: string;
  processed: true;
}

export interface Report {
  order_count: number;
  orders: Order[];
  totals_by_customer: Array<{ customer: string; currency: string; orders: number; amount: string }>;
  totals_by_currency: Record<string, string>;
}

export const extract = task("extract", async ({ source }: { source: string }, ctx) => {
  const [header, ...rows] = parseCsv(await readText(source));
  const missing = COLUMNS.filter((c) => !header?.includes(c));
  if (header === undefined || missing.length > 0) {
    throw new Error(`${source}: missing column(s) ${missing.join(", ")}`);
  }
  const orders = rows.map((cells) => {
    const raw = {} as RawOrder;
    for (const column of COLUMNS) raw[column] = cells[header.indexOf(column)] ?? "";
    return raw;
  });
  ctx.log.info("extracted orders", { source, rows: orders.length });
  return orders;
});

function toCents(amount: string, orderId: string): number {
  const value = Number(amount.trim());
  if (amount.trim() === "" || !Number.isFinite(value)) {
    throw new Error(`order ${orderId}: amount ${JSON.stringify(amount)} is not a number`);
  }
  return Math.round(value * 100);
}

const formatCents = (cents: number): string => (cents / 100).toFixed(2);

function normalise(raw: RawOrder): Order {
  return {
    order_id: raw.order_id.trim(),
    customer: raw.customer.trim().replace(/\s+/g, " "),
    amount_cents: toCents(raw.amount, raw.order_id),
    currency: raw.currency.trim().toUpperCase(),
    created_at: new Date(raw.created_at.trim()).toISOString(),
    processed: true,
  };
}

/** Orders grouped by `key`, groups sorted by key. */
function groupBy<K extends string>(orders: Order[], key: (o: Order) => K): Array<[K, Order[]]> {
  const groups = new Map<K, Order[]>();
  for (const o of orders) groups.set(key(o), [...(groups.get(key(o)) ?? []), o]);
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const sumCents = (orders: Order[]): number => orders.reduce((sum, o) => sum + o.amount_cents, 0);

export const transform = task("transform", ({ orders }: { orders: RawOrder[] }): Report => {
  const normalised = orders.map(normalise);
  return {
    order_count: normalised.length,
    orders: normalised,
    totals_by_customer: groupBy(normalised, (o) => `${o.customer}|${o.currency}`).map(
      ([, group]) => ({
        customer: group[0]!.customer,
        currency: group[0]!.currency,
        orders: group.length,
        amount: formatCents(sumCents(group)),
      }),
    ),
    totals_by_currency: Object.fromEntries(
      groupBy(normalised, (o) => o.currency).map(([currency, group]) => [
        currency,
        formatCents(sumCents(group)),
      ]),
    ),
  };
});

export const load = task(
  "load",
  async ({ report, destination }: { report: Report; destination: string }, ctx) => {
    const body = `${JSON.stringify(report, null, 2)}\n`;
    await writeText(destination, body);
    ctx.log.info("wrote report", { destination, bytes: Buffer.byteLength(body) });
    return { destination, orders: report.order_count };
  },
);

export default dag(
  "etl_pipeline",
  {
    version: "1.0.0",
    description: "Extract orders from CSV, normalise and total them, load the report as JSON",
    parameters: {
      source: { type: "string", description: "CSV file of orders to read" },
      destination: { type: "string", description: "JSON file to write the report to" },
    },
  },
  () => {
    const orders = extract({ source: "{{ parameters.source }}" });
    const report = transform({ orders });
    load({ report, destination: "{{ parameters.destination }}" });
  },
);

/**
 * The guide's ETL pipeline: extract orders from a CSV file, normalise and aggregate them, load
 * the result as JSON. `source` and `destination` are local paths or `s3://bucket/key` URIs.
 *
 *   dagy run examples/flows/etl_pipeline.ts \
 *     --param date=2024-03-14 --param source=examples/data/orders.csv --param destination=out/orders.json
 *
 * On `npm start` the guide's request works as written: the local platform seeds
 * s3://bucket/input.csv (in its local S3) with examples/data/orders.csv.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { dag, task } from "dagy";

// --- Storage: local paths and s3:// URIs. ---

const S3_URI = /^s3:\/\/([^/]+)\/(.+)$/;

let s3: Promise<{ client: S3Client; sdk: typeof import("@aws-sdk/client-s3") }> | undefined;

/**
 * The S3 client, created on first use (flows that never touch S3 never load it). Locally the
 * worker gets the local S3's endpoint in DAGY_S3_ENDPOINT; in AWS the task role's credentials
 * and the default endpoint apply.
 */
function s3Client(): Promise<{ client: S3Client; sdk: typeof import("@aws-sdk/client-s3") }> {
  s3 ??= import("@aws-sdk/client-s3").then((sdk) => {
    const endpoint = process.env.DAGY_S3_ENDPOINT;
    const client = new sdk.S3Client({
      region: process.env.AWS_REGION ?? "us-east-1",
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    });
    return { client, sdk };
  });
  return s3;
}

async function readText(location: string): Promise<string> {
  const uri = S3_URI.exec(location);
  if (uri === null) return readFile(location, "utf8");
  const { client, sdk } = await s3Client();
  const object = await client.send(new sdk.GetObjectCommand({ Bucket: uri[1], Key: uri[2] }));
  if (object.Body === undefined) throw new Error(`${location}: empty object`);
  return object.Body.transformToString("utf8");
}

async function writeText(location: string, text: string): Promise<void> {
  const uri = S3_URI.exec(location);
  if (uri === null) {
    await mkdir(path.dirname(path.resolve(location)), { recursive: true });
    await writeFile(location, text, "utf8");
    return;
  }
  const { client, sdk } = await s3Client();
  await client.send(
    new sdk.PutObjectCommand({
      Bucket: uri[1],
      Key: uri[2],
      Body: text,
      ContentType: "application/json",
    }),
  );
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
  /** The `date` parameter: the day the report is for. */
  date: string;
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

export const transform = task(
  "transform",
  ({ orders, date }: { orders: RawOrder[]; date: string }): Report => {
    const normalised = orders.map(normalise);
    return {
      date,
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
  },
);

/** Where the report goes when no destination is given: one folder per run. */
export const defaultDestination = (runId: string): string =>
  path.join(".dagy", "out", runId, "report.json");

export const load = task(
  "load",
  async ({ report, destination }: { report: Report; destination: string }, ctx) => {
    const body = `${JSON.stringify(report, null, 2)}\n`;
    destination ||= defaultDestination(ctx.runId);
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
      date: { type: "string", description: "Day the report is for (YYYY-MM-DD)" },
      source: { type: "string", description: "CSV of orders: a local path or s3://bucket/key" },
      destination: {
        type: "string",
        default: "",
        description:
          "Where to write the JSON report: a local path or s3://bucket/key " +
          "(default: .dagy/out/<run_id>/report.json)",
      },
    },
  },
  () => {
    const orders = extract({ source: "{{ parameters.source }}" });
    const report = transform({ orders, date: "{{ parameters.date }}" });
    load({ report, destination: "{{ parameters.destination }}" });
  },
);

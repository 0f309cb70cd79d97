/**
 * DAGY_WARM_POOLS: the Fargate warm pools a launcher may dispatch to, as the stack writes them
 * from its `warmPool` entries: `[{"pool":"small","queue_url":"https://sqs…","cpu":"256","memory":"512"}]`.
 * Hand-written checks rather than a zod schema: this sits in the launcher Lambdas' bundles and
 * each message names the entry and field.
 */
import { isValidFargatePair } from "../launcher/fargate";
import { WARM_ENV } from "./env";

/** Pool names: the workload profile's or an operator's (`small`, `etl-large`). */
export const POOL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** One Fargate warm pool: its name, its assignment queue and its workers' size. */
export interface WarmPoolSpec {
  readonly pool: string;
  readonly queueUrl: string;
  readonly cpu: string;
  readonly memory: string;
}

/** More pools than this is a configuration mistake, not a deployment. */
export const MAX_WARM_POOLS = 20;

const QUEUE_URL = /^https?:\/\/[^\s]+$/;
const FIELDS = new Set(["pool", "queue_url", "cpu", "memory"]);

/**
 * Parses DAGY_WARM_POOLS. Returns the pools, or a problem naming the variable, the entry and
 * the field. Empty or unset: no pools (every launch is cold).
 */
export function parseWarmPools(raw: string | undefined): WarmPoolSpec[] | string {
  const name = WARM_ENV.pools;
  if (raw === undefined || raw.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return `${name} must be JSON like [{"pool":"small","queue_url":"https://…","cpu":"256","memory":"512"}]`;
  }
  if (!Array.isArray(parsed)) return `${name} must be a JSON array of pools`;
  if (parsed.length > MAX_WARM_POOLS) return `${name} may list at most ${MAX_WARM_POOLS} pools`;
  const pools: WarmPoolSpec[] = [];
  for (const [i, entry] of parsed.entries()) {
    const at = `${name}[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      return `${at} must be an object with pool, queue_url, cpu and memory`;
    }
    const e = entry as Record<string, unknown>;
    const unknown = Object.keys(e).filter((k) => !FIELDS.has(k));
    if (unknown.length > 0) {
      return `${at} has unknown field(s) ${unknown.join(", ")}; allowed: pool, queue_url, cpu, memory`;
    }
    const { pool, queue_url: queueUrl, cpu, memory } = e;
    if (typeof pool !== "string" || !POOL_NAME_PATTERN.test(pool)) {
      return `${at}.pool must be 1-64 letters, digits, '_' or '-'`;
    }
    if (pools.some((p) => p.pool === pool)) return `${at}.pool "${pool}" is listed twice`;
    if (typeof queueUrl !== "string" || !QUEUE_URL.test(queueUrl) || queueUrl.length > 2048) {
      return `${at}.queue_url must be the pool's SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)`;
    }
    if (typeof cpu !== "string" || typeof memory !== "string" || !isValidFargatePair(cpu, memory)) {
      return `${at}.cpu and .memory must be strings forming a valid Fargate size, e.g. "256" and "512"`;
    }
    pools.push({ pool, queueUrl, cpu, memory });
  }
  return pools;
}

/**
 * How much of a parent's children a poll must read. Children are listed on the runs table's
 * `by_parent` index, sorted by `created_at` (launch order); a poll that reads all of them costs
 * one query per 100 children (10,000 children: 100 queries, every poll). Children mostly finish
 * in launch order, so the poll starts at the oldest child not yet joined: what is older has all
 * been joined and is neither read nor paid for.
 *
 * Safe against the index's eventual consistency: the start moves only once launching is over
 * and every launched child has been seen at least once (its `created_at` known). A child that
 * has not shown up yet (index lag, or one a relaunched parent's earlier attempt created long
 * ago, returned again by its idempotency key) keeps the poll reading from where it was.
 */
export class ChildReadWindow {
  /** Launched child run id -> its created_at, once a poll has seen it. */
  private readonly created = new Map<string, string>();
  private from: string | undefined;

  constructor(
    /** Run ids the launch requests returned. */
    private readonly launched: ReadonlySet<string>,
    /** Run ids already joined. */
    private readonly done: ReadonlySet<string>,
  ) {}

  /** Where the next poll starts (ISO time); undefined: at the first child. */
  get createdFrom(): string | undefined {
    return this.from;
  }

  seen(child: { readonly run_id: string; readonly created_at: string }): void {
    this.created.set(child.run_id, child.created_at);
  }

  /** After a whole poll: starts the next at the oldest child not joined, when that is safe. */
  advance(launchingOver: boolean): void {
    if (!launchingOver) return;
    let oldest: string | undefined;
    for (const id of this.launched) {
      if (this.done.has(id)) continue;
      const at = this.created.get(id);
      if (at === undefined) return;
      if (oldest === undefined || at < oldest) oldest = at;
    }
    if (oldest !== undefined && (this.from === undefined || oldest > this.from)) this.from = oldest;
  }
}

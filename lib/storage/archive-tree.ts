/**
 * The tree an archive would produce, kept in memory: entries are added in archive order and
 * checked against what is already there (names, duplicates, files where directories must go,
 * entries below a symbolic link), so links are resolved against the real tree rather than each
 * one lexically.
 */
import { ArtifactError } from "../errors";
import { findControlCharacter } from "../sdk/text";
import { MAX_LINK_HOPS, safeEntryPath, tooManyEntries } from "./archive-rules";

type TreeNode =
  | { kind: "directory"; implicit: boolean }
  | { kind: "file" }
  | { kind: "symlink"; target: string; name: string };

export class EntryTree {
  private readonly nodes = new Map<string, TreeNode>();
  entries = 0;

  constructor(private readonly maxEntries: number) {}

  /** Checks and records one entry; returns its normalized relative path. */
  add(name: string, kind: "file" | "directory" | "symlink", linkTarget?: string): string {
    this.entries++;
    if (this.entries > this.maxEntries) throw tooManyEntries(this.maxEntries);
    const relative = safeEntryPath(name);
    const refuse = (why: string) =>
      new ArtifactError(`unsafe archive entry ${JSON.stringify(name)}: ${why}`);
    if (relative === "") {
      if (kind !== "directory") throw refuse("names the archive root");
      return relative;
    }
    const parts = relative.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const node = this.nodes.get(parent);
      if (node?.kind === "symlink") {
        throw refuse(`lies below the symbolic link ${JSON.stringify(node.name)}`);
      }
      if (node?.kind === "file") {
        throw new ArtifactError(
          `archive entry ${JSON.stringify(name)} conflicts with another entry (a file and a directory at one path)`,
        );
      }
      if (node === undefined) this.nodes.set(parent, { kind: "directory", implicit: true });
    }
    const existing = this.nodes.get(relative);
    if (existing !== undefined) {
      if (existing.kind === "directory" && existing.implicit && kind === "directory") {
        this.nodes.set(relative, { kind: "directory", implicit: false });
        return relative;
      }
      if (existing.kind === "directory" && existing.implicit) {
        throw new ArtifactError(
          `archive entry ${JSON.stringify(name)} conflicts with another entry (a file and a directory at one path)`,
        );
      }
      throw new ArtifactError(`archive entry ${JSON.stringify(name)} appears more than once`);
    }
    if (kind === "symlink") {
      const target = linkTarget ?? "";
      if (
        target === "" ||
        target.startsWith("/") ||
        /^[A-Za-z]:/.test(target) ||
        target.includes("\\") ||
        findControlCharacter(target, "none") !== undefined
      ) {
        throw refuse(
          `symbolic link to ${JSON.stringify(target)} points outside the target directory`,
        );
      }
      this.nodes.set(relative, { kind: "symlink", target, name });
      this.checkLink(relative);
    } else {
      this.nodes.set(
        relative,
        kind === "file" ? { kind: "file" } : { kind: "directory", implicit: false },
      );
    }
    return relative;
  }

  /** Every link resolves inside, now that every entry is known (a later link can redirect an earlier one). */
  finish(): void {
    for (const [path, node] of this.nodes) {
      if (node.kind === "symlink") this.checkLink(path);
    }
  }

  private checkLink(path: string): void {
    const node = this.nodes.get(path);
    if (node?.kind !== "symlink") return;
    const parent = path.split("/").slice(0, -1);
    const result = this.follow(parent, node.target, { followed: 0 });
    if (result === "escapes" || result === "loops") {
      throw new ArtifactError(
        `unsafe archive entry ${JSON.stringify(node.name)}: symbolic link to ${JSON.stringify(node.target)} ` +
          (result === "escapes"
            ? "points outside the target directory once the links it passes through are followed"
            : `never resolves (a loop of symbolic links, or more than ${MAX_LINK_HOPS} of them)`),
      );
    }
  }

  /** Resolves `target` from directory `from` through the links of the tree. */
  private follow(
    from: string[],
    target: string,
    // Shared by the whole resolution, as the kernel counts: links that expand into several
    // links (a1 -> a0/a0, a2 -> a1/a1, ...) cannot make it exponential.
    hops: { followed: number },
  ): string[] | "escapes" | "loops" {
    if (target.startsWith("/")) return "escapes";
    let parts = [...from];
    for (const component of target.split("/")) {
      if (component === "" || component === ".") continue;
      if (component === "..") {
        if (parts.length === 0) return "escapes";
        parts.pop();
        continue;
      }
      parts.push(component);
      const node = this.nodes.get(parts.join("/"));
      if (node?.kind === "symlink") {
        hops.followed++;
        if (hops.followed > MAX_LINK_HOPS) return "loops";
        const resolved = this.follow(parts.slice(0, -1), node.target, hops);
        if (typeof resolved === "string") return resolved;
        parts = resolved;
      }
    }
    return parts;
  }
}

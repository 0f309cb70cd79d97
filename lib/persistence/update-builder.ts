/** Builds one DynamoDB UpdateExpression with generated placeholder names and values. */
import type { RunRecord } from "./records";

export class UpdateBuilder {
  private readonly sets: string[] = [];
  private readonly removes: string[] = [];
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private n = 0;

  set(attribute: string, value: unknown): void {
    const i = this.n++;
    this.names[`#a${i}`] = attribute;
    this.values[`:a${i}`] = value;
    this.sets.push(`#a${i} = :a${i}`);
  }
  /** `attribute[index].key = value` (a field of one element of a list attribute). */
  setElementField(attribute: string, index: number, key: string, value: unknown): void {
    const list = this.name(attribute);
    const field = this.name(key);
    this.sets.push(`${list}[${index}].${field} = ${this.value(value)}`);
  }
  /** `attribute.key = value` (one entry of a map attribute, which must exist). */
  setMapEntry(attribute: string, key: string, value: unknown): void {
    this.sets.push(`${this.name(attribute)}.${this.name(key)} = ${this.value(value)}`);
  }
  remove(attribute: string): void {
    const i = this.n++;
    this.names[`#a${i}`] = attribute;
    this.removes.push(`#a${i}`);
  }
  value(value: unknown): string {
    const i = this.n++;
    this.values[`:a${i}`] = value;
    return `:a${i}`;
  }
  name(attribute: string): string {
    const i = this.n++;
    this.names[`#a${i}`] = attribute;
    return `#a${i}`;
  }
  setFields(fields: Partial<RunRecord>): void {
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) this.set(key, value);
    }
  }
  has(attribute: string): boolean {
    return Object.values(this.names).includes(attribute);
  }
  expression(): string {
    return [
      this.sets.length > 0 ? `SET ${this.sets.join(", ")}` : "",
      this.removes.length > 0 ? `REMOVE ${this.removes.join(", ")}` : "",
    ]
      .filter((s) => s.length > 0)
      .join(" ");
  }
}

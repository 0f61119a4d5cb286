import { TerminalError } from 'weft/worker';
import { asArray, asNumber, asObject, asString, type Row } from '../lib.ts';

/**
 * Activities of `config_pipeline`: the run input's configuration names which of them run (the
 * validator, each transformation, the enricher). Each transformation takes `{records, params}` and
 * returns `{applied, records}`, so that a loop can fold them one after another. Deterministic.
 */

interface Rule {
  readonly field: string;
  readonly required?: boolean;
  readonly type?: string;
  readonly min?: number;
}

const recordsOf = (input: unknown): Row[] => asArray(asObject(input).records).map(asObject);
const paramsOf = (input: unknown): Row => asObject(asObject(input).params);

/** Checks every record against `rules`; a TerminalError (bad data is not retried) lists every problem. */
export const cfg_validate = (input: unknown): { records: Row[]; checked: number } => {
  const records = recordsOf(input);
  const rules = asArray(asObject(input).rules).map((r) => asObject(r) as unknown as Rule);
  const problems: string[] = [];
  records.forEach((record, i) => {
    for (const rule of rules) {
      const value = record[rule.field];
      if (rule.required === true && value === undefined)
        problems.push(`record ${i}: '${rule.field}' is required`);
      if (value !== undefined && rule.type !== undefined && typeof value !== rule.type)
        problems.push(`record ${i}: '${rule.field}' must be a ${rule.type}`);
      if (typeof value === 'number' && rule.min !== undefined && value < rule.min)
        problems.push(`record ${i}: '${rule.field}' must be at least ${rule.min}`);
    }
  });
  if (problems.length > 0) throw new TerminalError(`validation failed: ${problems.join('; ')}`);
  return { records, checked: records.length };
};

/** `params: {field}` — upper-cases a string field. */
export const cfg_uppercase = (input: unknown): { applied: string; records: Row[] } => {
  const field = asString(paramsOf(input).field);
  return {
    applied: `uppercase(${field})`,
    records: recordsOf(input).map((r) => {
      const value = r[field];
      return typeof value === 'string' ? { ...r, [field]: value.toUpperCase() } : r;
    }),
  };
};

/** `params: {field, by}` — multiplies a number field. */
export const cfg_scale = (input: unknown): { applied: string; records: Row[] } => {
  const { field, by } = paramsOf(input);
  const name = asString(field);
  const factor = asNumber(by, 1);
  return {
    applied: `scale(${name},${factor})`,
    records: recordsOf(input).map((r) => {
      const value = r[name];
      return typeof value === 'number' ? { ...r, [name]: value * factor } : r;
    }),
  };
};

/** `params: {field, to}` — renames a field, keeping the other fields' order. */
export const cfg_rename = (input: unknown): { applied: string; records: Row[] } => {
  const { field, to } = paramsOf(input);
  const from = asString(field);
  const target = asString(to, from);
  return {
    applied: `rename(${from},${target})`,
    records: recordsOf(input).map((r) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k === from ? target : k, v])),
    ),
  };
};

/** `{records, source}` — adds a rank and the source to every record. */
export const cfg_enrich = (input: unknown): { records: Row[] } => {
  const source = asString(asObject(input).source, 'unknown');
  return { records: recordsOf(input).map((r, i) => ({ ...r, rank: i + 1, source })) };
};

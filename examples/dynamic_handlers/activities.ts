/** Summarises what the run's signals wrote into `$data`. Deterministic in its input. */
export const handlers_summarize = (input: unknown) => {
  const { data, completedBy } = (input ?? {}) as { data?: Record<string, unknown>; completedBy?: unknown };
  const items = Array.isArray(data?.add_item) ? (data.add_item as { amount?: number }[]) : [];
  return {
    items: items.length,
    total: items.reduce((sum, i) => sum + (i.amount ?? 0), 0),
    keys: Object.keys(data ?? {}).sort(),
    completedBy,
  };
};

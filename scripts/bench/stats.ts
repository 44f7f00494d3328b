// Small statistics for the bench: medians, spreads and percentiles of a handful of numbers.

/** Median, min and max of the rounds of one measurement. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The value at quantile `q` (0..1) of `values`, by linear interpolation between ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * q;
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = sorted[low] as number;
  const b = sorted[high] as number;
  return a + (b - a) * (rank - low);
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Median, min and max. */
export function spread(values: readonly number[]): Spread {
  return {
    median: median(values),
    min: values.length === 0 ? NaN : Math.min(...values),
    max: values.length === 0 ? NaN : Math.max(...values),
  };
}

/** p50, p99 and max of many samples (latencies); sorts once. */
export function percentiles(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => {
    if (sorted.length === 0) return NaN;
    const rank = (sorted.length - 1) * q;
    const low = Math.floor(rank);
    const high = Math.ceil(rank);
    return (
      (sorted[low] as number) + ((sorted[high] as number) - (sorted[low] as number)) * (rank - low)
    );
  };
  return {
    p50: at(0.5),
    p99: at(0.99),
    max: sorted.length === 0 ? NaN : (sorted.at(-1) as number),
  };
}

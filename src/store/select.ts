/**
 * The k-th smallest of `values` (0-based) by quickselect, reordering `values` in place.
 *
 * The stores shed at their caps down to a share of it at once, and need only the threshold, not
 * the order: sorting a million expiries or sequence numbers held the event loop ≈ 100–260 ms (a
 * webhook latency spike every tenth of the cap), selecting it ≈ 7–26 ms.
 */
export function kthSmallest(values: Float64Array, k: number): number {
  if (!(k >= 0 && k < values.length)) throw new RangeError(`k ${k} outside 0..${values.length - 1}`);
  let lo = 0;
  let hi = values.length - 1;
  while (hi > lo) {
    // Median of three: sorted or nearly sorted input (sequence numbers) stays linear.
    const a = values[lo]!;
    const b = values[(lo + hi) >>> 1]!;
    const c = values[hi]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  return values[k]!;
}

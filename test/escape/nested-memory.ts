/** Agent source of a function returning 2,000 arrays nested 55 deep (~0.25 MB of JSON, ~25 times that parsed). */
export const NESTED_VALUE = `() => {
  const o = {};
  for (let i = 0; i < 2000; i++) {
    let v = 0;
    for (let d = 0; d < 55; d++) v = [v];
    o['k' + i] = v;
  }
  return o;
}`;

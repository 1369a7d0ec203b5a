export interface Migration {
  /** Unique, ordered within its area: "<area>/<NNNN>_<name>". Never renumber a released migration. */
  id: string;
  sql: string;
}

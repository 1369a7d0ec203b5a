export { LineageGraph, lineageKey, type LineageNode, type LineageEdge, type LineageNodeKind } from './LineageGraph.js';
export { parseOpenLineageEvent, datasetVersionOf, type OpenLineageRunEvent, type OpenLineageDataset } from './openLineage.js';

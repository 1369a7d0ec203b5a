export { startDemoModelServer, type DemoModelServer } from './demoModelServer.js';
export { trainIrisClassifier, loadIrisDataset, type IrisModel } from './irisClassifier.js';

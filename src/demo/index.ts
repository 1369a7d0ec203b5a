export { startDemoModelServer, type DemoModelServer, type DemoModelServerOptions } from './demoModelServer.js';
export { trainIrisClassifier, irisModelFromParams, loadIrisDataset, type IrisModel, type IrisParams } from './irisClassifier.js';
export { saveIrisModel, loadIrisModel, IRIS_MODEL_FILE } from './irisModelFile.js';

export {
  buildAdmissionTable,
  admitModel,
  admissionTableFromRows,
  admissionTableToJson,
  admissionTableFromJson,
  type AdmissionTable,
  type AdmissionTableJson,
  type AdmissionResult,
  type AdmissionCode,
  type AdmissionOptions,
  type ModelAdmission,
} from './admission.js';

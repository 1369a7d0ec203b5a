export { type Authorizer, type AuthzRequest, type Decision, type EntityRef, entityToString } from './Authorizer.js';
export { ScopeAuthorizer } from './ScopeAuthorizer.js';

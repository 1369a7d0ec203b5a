import { WardenError } from '../errors/index.js';
import type { Action } from './Action.js';

/** The actions runbooks may name; a control plane registers only those whose modules it has. */
export class ActionRegistry {
  private readonly actions = new Map<string, Action>();

  register(action: Action): this {
    if (this.actions.has(action.name)) throw new WardenError('WARDEN_CONFLICT', `action ${action.name} is already registered`);
    this.actions.set(action.name, action);
    return this;
  }

  get(name: string): Action {
    const a = this.actions.get(name);
    if (!a) throw new WardenError('WARDEN_RESPOND_ACTION_UNKNOWN', `no action ${JSON.stringify(name)} (known: ${[...this.actions.keys()].sort().join(', ')})`);
    return a;
  }

  has(name: string): boolean {
    return this.actions.has(name);
  }

  list(): { name: string; description: string; undoable: boolean }[] {
    return [...this.actions.values()].map((a) => ({ name: a.name, description: a.description, undoable: typeof a.undo === 'function' })).sort((a, b) => a.name.localeCompare(b.name));
  }
}

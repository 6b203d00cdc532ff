// Which of a card's state transitions the control plane has not recorded yet. The card is the source of truth and
// keeps every transition with its time and reason; the control plane only sees the card when it asks, so a quick
// running → stopping → stopped (a guest that powered itself off) would otherwise be recorded as one jump.
import type { InstanceStateName } from './instance-state.ts';
import type { CardInstance } from './card-contract.ts';

export interface MissedStep {
  to: InstanceStateName;
  reason: string | null;
  /** When the card made the transition; undefined = now (an older card without a history). */
  at?: string;
}

/**
 * The steps after the card's last transition into `current` (the state the control plane has recorded). If the card
 * never had `current`, or keeps no history, the one step to the card's present state.
 */
export function missedSteps(current: InstanceStateName, card: Pick<CardInstance, 'state' | 'stateReason' | 'transitions'>): MissedStep[] {
  const history = card.transitions ?? [];
  const i = history.map((t) => t.to).lastIndexOf(current);
  if (i < 0 || history.length === 0) {
    if (card.state === current) return [];
    const last = history.at(-1);
    return [{ to: card.state, reason: card.stateReason, ...(last?.to === card.state ? { at: last.at } : {}) }];
  }
  return history.slice(i + 1).map((t) => ({ to: t.to, reason: t.reason, at: t.at }));
}

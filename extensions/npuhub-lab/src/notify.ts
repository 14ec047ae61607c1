/**
 * Notifications: once per quota account when it gets nearly spent or spent,
 * and once per stop warning on this server's session, after saving the open
 * documents (saved again at every poll while the warning lasts).
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { ISaveResult } from './save';
import { IStatus, IWarning, IRequestView } from './tokens';
import {
  accountLabel,
  formatHours,
  formatTime,
  periodText,
  quotaLevel,
  sliceLabel
} from './view';

export type NotifyKind = 'warning' | 'error' | 'info';

export interface INotifierOptions {
  trans: TranslationBundle;
  /** Shows a notification (JupyterLab's Notification in the app). */
  notify: (kind: NotifyKind, message: string) => void;
  /** Saves the open documents with unsaved changes. */
  saveAll: () => Promise<ISaveResult>;
}

export class Notifier {
  constructor(options: INotifierOptions) {
    this._trans = options.trans;
    this._notify = options.notify;
    this._saveAll = options.saveAll;
  }

  /** Look at a fresh status; returns once the saving it asked for is done. */
  async update(status: IStatus): Promise<void> {
    const me = status.me;
    if (!me) {
      return;
    }
    this._quota(status);
    const here = me.holdings.filter(h => h.server === status.server_name);
    const warned = here.flatMap(h => h.warnings.map(w => [h, w] as [IRequestView, IWarning]));
    if (warned.length === 0) {
      return;
    }
    const result = await this._saveAll();
    for (const [holding, warning] of warned) {
      const key = `${holding.id}@${warning.at}`;
      if (this._seen.has(key)) {
        continue;
      }
      this._seen.add(key);
      this._notify('warning', this._warningText(holding, warning, result, status));
    }
  }

  private _quota(status: IStatus): void {
    const trans = this._trans;
    for (const account of status.me?.accounts ?? []) {
      const level = quotaLevel(account);
      if (level === 'ok') {
        continue;
      }
      // A new period (renews_at) may bring the same level again: then it is news again.
      const key = `${account.name}@${account.renews_at}:${level}`;
      if (this._seen.has(key)) {
        continue;
      }
      this._seen.add(key);
      const who = accountLabel(account.name, trans);
      if (level === 'spent') {
        this._notify(
          'error',
          trans.__('%1: the device-hours of %2 are spent.', who, periodText(account.period, trans))
        );
      } else {
        this._notify(
          'warning',
          trans.__(
            '%1: only %2 h left %3.',
            who,
            formatHours(account.balance.device_hours),
            periodText(account.period, trans)
          )
        );
      }
    }
  }

  private _warningText(
    holding: IRequestView,
    warning: IWarning,
    result: ISaveResult,
    status: IStatus
  ): string {
    const trans = this._trans;
    const slice = sliceLabel(holding, status.me?.flavors);
    const at = formatTime(warning.stop_at);
    const stop =
      warning.reason === 'budget_spent'
        ? trans.__('Your %1 will be released at %2: its budget is spent.', slice, at)
        : trans.__('Your %1 will be released at %2 unless you keep working.', slice, at);
    let saved: string;
    if (result.failed.length > 0) {
      saved = trans.__(
        'Some open documents could not be saved (%1): save them now.',
        result.failed.join(', ')
      );
    } else {
      saved = trans.__('Your open notebooks have been saved.');
    }
    return `${stop} ${saved}`;
  }

  private _trans: TranslationBundle;
  private _notify: (kind: NotifyKind, message: string) => void;
  private _saveAll: () => Promise<ISaveResult>;
  private _seen = new Set<string>();
}

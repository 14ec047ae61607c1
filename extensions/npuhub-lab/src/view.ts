/**
 * Pure helpers that turn the status into words and levels; shared by the
 * status bar, the side panel and the notifications.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import {
  API_VERSION,
  IAccountView,
  IFlavorView,
  IMe,
  IRequestView,
  State
} from './tokens';

/** Share of the period's grant at or below which quota is shown as nearly spent. */
export const LOW_QUOTA = 0.1;

export type QuotaLevel = 'ok' | 'low' | 'spent';

/** ok, low (≤ 10 % of the period's grant left) or spent. */
export function quotaLevel(account: IAccountView): QuotaLevel {
  const balance = account.balance.device_hours;
  if (account.spent || balance <= 0) {
    return 'spent';
  }
  const grant = account.grant_per_period.device_hours;
  if (grant > 0 && balance <= LOW_QUOTA * grant) {
    return 'low';
  }
  return 'ok';
}

/** Hours with at most one decimal: 6.5, 20, 0.1. */
export function formatHours(hours: number): string {
  const rounded = Math.round(Math.max(0, hours) * 10) / 10;
  return rounded.toString();
}

/** "1/4 Ascend 910B"; the flavor's name for a session without an accelerator. */
export function sliceLabel(req: IRequestView, flavors: IFlavorView[] = []): string {
  if (req.share && req.share !== '0' && req.model) {
    return `${req.share} ${req.model}`;
  }
  const flavor = flavors.find(f => f.id === req.flavor);
  return flavor ? flavor.name : req.flavor;
}

/** The flavor's display name, or its id. */
export function flavorName(id: string, flavors: IFlavorView[] = []): string {
  const flavor = flavors.find(f => f.id === id);
  return flavor ? flavor.name : id;
}

/** "3rd" in English; each suffix is its own message so that other languages can say "第 3 位". */
export function ordinal(n: number, trans: TranslationBundle): string {
  const tens = n % 100;
  const ones = n % 10;
  if (tens >= 11 && tens <= 13) {
    return trans.__('%1th', n);
  }
  if (ones === 1) {
    return trans.__('%1st', n);
  }
  if (ones === 2) {
    return trans.__('%1nd', n);
  }
  if (ones === 3) {
    return trans.__('%1rd', n);
  }
  return trans.__('%1th', n);
}

/** "My quota" or "Group lab-x". */
export function accountLabel(name: string, trans: TranslationBundle): string {
  const [kind, ...rest] = name.split(':');
  const who = rest.join(':');
  if (kind === 'user') {
    return trans.__('My quota');
  }
  if (kind === 'group') {
    return trans.__('Group %1', who);
  }
  return name;
}

/** "this week", "this month", "today". */
export function periodText(period: string, trans: TranslationBundle): string {
  switch (period) {
    case 'day':
      return trans.__('today');
    case 'month':
      return trans.__('this month');
    default:
      return trans.__('this week');
  }
}

/** The server's name as people see it. */
export function serverLabel(server: string, trans: TranslationBundle): string {
  return server ? server : trans.__('default server');
}

let timeLocales: string[] = [];

/** Write times and dates in JupyterLab's language ("zh-CN", "en"), not the browser's. */
export function setTimeLocale(language: string | null | undefined): void {
  timeLocales = language ? [language.replace('_', '-')] : [];
}

/** Local time "14:05", with the date when it is not today, in JupyterLab's language. */
export function formatTime(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) {
    return '';
  }
  const when = new Date(iso);
  if (isNaN(when.getTime())) {
    return iso;
  }
  const time = when.toLocaleTimeString(timeLocales, { hour: '2-digit', minute: '2-digit' });
  if (when.toDateString() === now.toDateString()) {
    return time;
  }
  const date = when.toLocaleDateString(timeLocales, { month: 'short', day: 'numeric' });
  return `${date} ${time}`;
}

/** The holding of this server, else my first holding that is not a Dask cluster's. */
export function holdingHere(me: IMe, serverName: string): IRequestView | undefined {
  return me.holdings.find(h => h.server === serverName) ?? me.holdings.find(h => !h.cluster);
}

/**
 * The account the status bar speaks of: the one this server's session is
 * charged to, else my own, else the first one.
 */
export function mainAccount(me: IMe, serverName: string): IAccountView | undefined {
  const holding = me.holdings.find(h => h.server === serverName);
  const byName = (name: string | null | undefined) =>
    name ? me.accounts.find(a => a.name === name) : undefined;
  return (
    byName(holding?.account) ??
    byName(`user:${me.user}`) ??
    me.accounts[0]
  );
}

/** The sentence for a state without data (missing, older, down); null otherwise. */
export function problemSentence(state: State, trans: TranslationBundle): string | null {
  switch (state.kind) {
    case 'missing':
      return trans.__(
        "The npuhub server part is not installed on this server; ask the centre's staff."
      );
    case 'older':
      return trans.__(
        "The npuhub server part on this server is older than this extension (API %1, this extension needs %2); ask the centre's staff to update it.",
        state.api === null ? '?' : state.api,
        API_VERSION
      );
    case 'down':
      if (state.reason === 'service_restarting') {
        // the hub restarts it within half a minute: nothing to read but that
        return trans.__('The npuhub service is restarting; trying again…');
      }
      return state.error
        ? trans.__('The npuhub service cannot be reached right now: %1', state.error)
        : trans.__('The npuhub service cannot be reached right now.');
    default:
      return null;
  }
}

/** Text for the quota part of the status bar: "6.5 h left" or "quota spent". */
export function quotaText(account: IAccountView, trans: TranslationBundle): string {
  if (quotaLevel(account) === 'spent') {
    return trans.__('quota spent');
  }
  return trans.__('%1 h left', formatHours(account.balance.device_hours));
}

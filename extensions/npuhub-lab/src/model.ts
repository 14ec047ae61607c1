/**
 * The status model: polls the server part once per interval and tells the
 * views when what it knows changes.
 *
 * The interval is the server's (`status.interval`, 15 s until known); a user
 * setting may make it longer, never shorter. While the page is hidden it polls
 * at most once a minute (not never: a warning before an idle or budget stop must
 * still reach the save-on-warning logic within the warning's grace period), and
 * it refreshes at once when the page becomes visible again.
 *
 * While the npuhub service is restarting or cannot be reached, it asks again
 * sooner (after 2 s, then twice as long each time, up to the interval), and
 * keeps the last status that had the service's data on show.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { fetchStatus, isTextBoth, StatusAnswer } from './handler';
import { API_VERSION, DEFAULT_INTERVAL, IStatus, ServiceText, State } from './tokens';

/** Seconds between polls while the page is hidden (browsers throttle hidden tabs to this anyway). */
export const HIDDEN_INTERVAL = 60;

/** Seconds before the first retry while the service is away; doubled at each retry, up to the interval. */
export const RETRY_FIRST = 2;

/** Why a status can lack the service's data for a while, that soon ends by itself: worth asking again soon. */
const PASSING_REASONS = new Set(['service_restarting', 'service_unreachable']);

export interface IStatusModelOptions {
  /** How to ask for the status (tests pass a fake). */
  fetch?: (etag: string | null) => Promise<StatusAnswer>;
  /** The document whose visibility slows polling down. */
  document?: Document;
  /** JupyterLab's display language ("zh-CN", "en", ...): picks the flavors' names. */
  language?: string;
}

/** Chinese for any "zh" variant of JupyterLab's language, else English. */
function isChinese(language: string): boolean {
  return language.toLowerCase().startsWith('zh');
}

/**
 * One of the service's sentences in the display language; an older service's
 * one string (both languages glued) as it is; '' for nothing.
 */
export function pickText(text: ServiceText | null | undefined, language: string): string {
  if (isTextBoth(text)) {
    return isChinese(language) ? text.zh : text.en;
  }
  return typeof text === 'string' ? text : '';
}

/** Each flavor's name in the display language: Chinese for any "zh" variant, else English. */
export function localizeFlavors(status: IStatus, language: string): IStatus {
  const me = status.me;
  if (!me) {
    return status;
  }
  const zh = isChinese(language);
  const flavors = me.flavors.map(f =>
    f.names ? { ...f, name: zh ? f.names.zh : f.names.en } : f
  );
  return { ...status, me: { ...me, flavors } };
}

/** What a fresh status means for the views, its sentences in `language`. */
export function stateOf(status: IStatus, language = 'en'): State {
  const api = status.server_part?.api;
  if (typeof api !== 'number' || api < API_VERSION) {
    return { kind: 'older', api: typeof api === 'number' ? api : null };
  }
  if (!status.available) {
    const error = status.error;
    return {
      kind: 'down',
      error: pickText(error?.message ?? error?.error, language),
      reason: error?.reason,
      status
    };
  }
  return { kind: 'ok', status };
}

export class StatusModel implements IDisposable {
  constructor(options: IStatusModelOptions = {}) {
    this._fetch = options.fetch ?? (etag => fetchStatus(etag));
    this._document = options.document ?? document;
    this._language = options.language ?? 'en';
    this._document.addEventListener('visibilitychange', this._onVisibility);
  }

  /** Emitted after every answer that changes what is known. */
  get changed(): ISignal<this, State> {
    return this._changed;
  }

  /**
   * Emitted after every poll that got an answer, changed or not (304): what must
   * happen at each poll while a condition lasts (saving before a stop) listens here.
   */
  get polled(): ISignal<this, State> {
    return this._polled;
  }

  get state(): State {
    return this._state;
  }

  /** The poll interval in seconds now in force. */
  get interval(): number {
    return Math.max(this._serverInterval, this._userInterval);
  }

  /** The user's setting (seconds); 0 or less means "the server's". */
  set userInterval(seconds: number) {
    this._userInterval = seconds > 0 ? seconds : 0;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Start polling: one request now, then one per interval. */
  start(): void {
    void this.refresh();
  }

  /** Ask now, then schedule the next poll (slower while the page is hidden). */
  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    this._clearTimer();
    if (this._inFlight) {
      return this._inFlight;
    }
    this._inFlight = this._poll().then(() => {
      if (!this._disposed) {
        this._polled.emit(this._state);
      }
    }).finally(() => {
      this._inFlight = null;
      this._schedule(true);
    });
    return this._inFlight;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._clearTimer();
    this._document.removeEventListener('visibilitychange', this._onVisibility);
    Signal.clearData(this);
  }

  private async _poll(): Promise<void> {
    const answer = await this._fetch(this._etag);
    if (this._disposed) {
      return;
    }
    switch (answer.kind) {
      case 'unchanged':
        return;
      case 'missing':
        this._etag = null;
        this._set({ kind: 'missing' });
        return;
      case 'failed': {
        // the last status stays on show under the sentence, marked with its time
        this._etag = null;
        const error = pickText(answer.both ?? answer.message, this._language);
        this._set({ kind: 'down', error, reason: answer.reason, status: this._lastKnown() });
        return;
      }
      case 'fresh': {
        this._etag = answer.etag;
        const interval = answer.status.interval;
        this._serverInterval =
          typeof interval === 'number' && interval > 0 ? interval : DEFAULT_INTERVAL;
        const state = stateOf(localizeFlavors(answer.status, this._language), this._language);
        if (state.kind === 'down' && !state.status?.me) {
          // the server part answered, without the service's data: what was last known stays on show
          state.status = this._lastKnown() ?? state.status;
        }
        this._set(state);
        return;
      }
    }
  }

  /** The last status that had the service's data. */
  private _lastKnown(): IStatus | undefined {
    const state = this._state;
    return (state.kind === 'ok' || state.kind === 'down') && state.status?.me ? state.status : undefined;
  }

  private _set(state: State): void {
    this._state = state;
    this._changed.emit(state);
  }

  /** Plan the next poll; `afterPoll` counts a retry while the service is away (not a visibility change). */
  private _schedule(afterPoll = false): void {
    this._clearTimer();
    if (this._disposed) {
      return;
    }
    const hidden = this._document.visibilityState === 'hidden';
    let seconds = hidden ? Math.max(this.interval, HIDDEN_INTERVAL) : this.interval;
    const state = this._state;
    if (state.kind === 'down' && PASSING_REASONS.has(state.reason ?? '')) {
      seconds = Math.min(seconds, RETRY_FIRST * 2 ** this._retries);
      if (afterPoll) {
        this._retries += 1;
      }
    } else {
      this._retries = 0;
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      void this.refresh();
    }, seconds * 1000);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _onVisibility = (): void => {
    if (this._document.visibilityState === 'hidden') {
      this._schedule();
    } else {
      void this.refresh();
    }
  };

  private _fetch: (etag: string | null) => Promise<StatusAnswer>;
  private _document: Document;
  private _language: string;
  private _state: State = { kind: 'loading' };
  private _changed = new Signal<this, State>(this);
  private _polled = new Signal<this, State>(this);
  private _etag: string | null = null;
  private _serverInterval = DEFAULT_INTERVAL;
  private _userInterval = 0;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _inFlight: Promise<void> | null = null;
  /** Polls in a row that found the service away (see RETRY_FIRST). */
  private _retries = 0;
  private _disposed = false;
}

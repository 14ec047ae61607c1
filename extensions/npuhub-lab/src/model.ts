/**
 * The status model: polls the server part once per interval and tells the
 * views when what it knows changes.
 *
 * The interval is the server's (`status.interval`, 15 s until known); a user
 * setting may make it longer, never shorter. While the page is hidden it polls
 * at most once a minute (not never: a warning before an idle or budget stop must
 * still reach the save-on-warning logic within the warning's grace period), and
 * it refreshes at once when the page becomes visible again.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { fetchStatus, StatusAnswer } from './handler';
import { API_VERSION, DEFAULT_INTERVAL, IStatus, State } from './tokens';

/** Seconds between polls while the page is hidden (browsers throttle hidden tabs to this anyway). */
export const HIDDEN_INTERVAL = 60;

export interface IStatusModelOptions {
  /** How to ask for the status (tests pass a fake). */
  fetch?: (etag: string | null) => Promise<StatusAnswer>;
  /** The document whose visibility slows polling down. */
  document?: Document;
  /** JupyterLab's display language ("zh-CN", "en", ...): picks the flavors' names. */
  language?: string;
}

/** Each flavor's name in the display language: Chinese for any "zh" variant, else English. */
export function localizeFlavors(status: IStatus, language: string): IStatus {
  const me = status.me;
  if (!me) {
    return status;
  }
  const zh = language.toLowerCase().startsWith('zh');
  const flavors = me.flavors.map(f =>
    f.names ? { ...f, name: zh ? f.names.zh : f.names.en } : f
  );
  return { ...status, me: { ...me, flavors } };
}

/** What a fresh status means for the views. */
export function stateOf(status: IStatus): State {
  const api = status.server_part?.api;
  if (typeof api !== 'number' || api < API_VERSION) {
    return { kind: 'older', api: typeof api === 'number' ? api : null };
  }
  if (!status.available) {
    return { kind: 'down', error: status.error?.error ?? '', status };
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
      this._schedule();
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
        const last =
          this._state.kind === 'ok' || this._state.kind === 'down' ? this._state.status : undefined;
        this._set({ kind: 'down', error: answer.message, status: last });
        return;
      }
      case 'fresh': {
        this._etag = answer.etag;
        const interval = answer.status.interval;
        this._serverInterval =
          typeof interval === 'number' && interval > 0 ? interval : DEFAULT_INTERVAL;
        this._set(stateOf(localizeFlavors(answer.status, this._language)));
        return;
      }
    }
  }

  private _set(state: State): void {
    this._state = state;
    this._changed.emit(state);
  }

  private _schedule(): void {
    this._clearTimer();
    if (this._disposed) {
      return;
    }
    const hidden = this._document.visibilityState === 'hidden';
    const seconds = hidden ? Math.max(this.interval, HIDDEN_INTERVAL) : this.interval;
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
  private _disposed = false;
}

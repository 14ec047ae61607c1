/**
 * The announcement banner above JupyterLab: what a teacher or the centre
 * announces (a workshop starting, maintenance), from the status poll. Each one
 * can be dismissed; the dismissal is remembered in the browser (localStorage).
 */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { pickText } from '../model';
import { IAnnouncement, State } from '../tokens';
import { formatTime } from '../view';

/** The localStorage key holding the ids of the announcements I dismissed. */
export const DISMISSED_KEY = 'npuhub-lab:dismissed-announcements';

/** The ids of dismissed announcements, kept in `storage` (the browser's localStorage). */
export class DismissedAnnouncements {
  constructor(private _storage: Storage | null = Private.storage()) {}

  has(id: string): boolean {
    return this._read().includes(id);
  }

  add(id: string): void {
    const ids = this._read();
    if (!ids.includes(id)) {
      this._write([...ids, id]);
    }
  }

  /** Forget dismissals of announcements no longer shown (they ended), so the list does not grow. */
  keepOnly(activeIds: string[]): void {
    const ids = this._read();
    const kept = ids.filter(id => activeIds.includes(id));
    if (kept.length !== ids.length) {
      this._write(kept);
    }
  }

  private _read(): string[] {
    try {
      const ids = JSON.parse(this._storage?.getItem(DISMISSED_KEY) ?? '[]');
      return Array.isArray(ids) ? ids.filter(id => typeof id === 'string') : [];
    } catch {
      return [];
    }
  }

  private _write(ids: string[]): void {
    try {
      this._storage?.setItem(DISMISSED_KEY, JSON.stringify(ids));
    } catch {
      // storage full or forbidden: the banner comes back after a reload, nothing worse
    }
  }
}

/**
 * What the banner shows: the announcements of the last status that had them,
 * less those I dismissed. While the service cannot be asked (or sends none:
 * a service without announcements), what was shown stays.
 */
export class AnnouncementFeed {
  constructor(private _dismissed = new DismissedAnnouncements()) {}

  get shown(): IAnnouncement[] {
    return this._shown;
  }

  /** Take a new state from the status model; what to show now. */
  update(state: State): IAnnouncement[] {
    const list = state.kind === 'ok' ? state.status.announcements : null;
    if (Array.isArray(list)) {
      this._dismissed.keepOnly(list.map(a => a.id));
      this._shown = list.filter(a => !this._dismissed.has(a.id));
    }
    return this._shown;
  }

  /** I dismissed one: it stays away (in this browser) until it ends. */
  dismiss(id: string): IAnnouncement[] {
    this._dismissed.add(id);
    this._shown = this._shown.filter(a => a.id !== id);
    return this._shown;
  }

  private _shown: IAnnouncement[] = [];
}

export interface IBannerProps {
  announcements: IAnnouncement[];
  trans: TranslationBundle;
  language?: string;
  onDismiss: (id: string) => void;
}

export function AnnouncementBanner(props: IBannerProps): JSX.Element | null {
  const { announcements, trans, onDismiss } = props;
  const language = props.language ?? 'en';
  if (announcements.length === 0) {
    return null;
  }
  return (
    <div className="jp-npuhub-announcements">
      {announcements.map(a => {
        const text = pickText(a.text, language);
        const until = a.ends ? trans.__('until %1', formatTime(a.ends)) : '';
        return (
          <div key={a.id} className="jp-npuhub-announcement" role="status" title={text}>
            <span className="jp-npuhub-announcement-text">{text}</span>
            {until && <span className="jp-npuhub-small jp-npuhub-announcement-until">{until}</span>}
            <button
              className="jp-npuhub-announcement-dismiss"
              title={trans.__('Dismiss')}
              aria-label={trans.__('Dismiss')}
              onClick={() => onDismiss(a.id)}
            >
              ×
            </button>
          </div>
        );
      })}
    </div>
  );
}

namespace Private {
  export function storage(): Storage | null {
    try {
      return typeof window !== 'undefined' ? window.localStorage : null;
    } catch {
      return null;
    }
  }
}

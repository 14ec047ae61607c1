import * as React from 'react';
import { act } from 'react';

import {
  AnnouncementBanner,
  AnnouncementFeed,
  DISMISSED_KEY,
  DismissedAnnouncements
} from '../components/Announcements';
import { StatusAnswer } from '../handler';
import { StatusModel } from '../model';
import { IAnnouncement, IStatus } from '../tokens';
import { status, trans } from './fixtures';
import { cleanup, render } from './render';

afterEach(cleanup);

function announcement(id: string, en: string, zh = `中文 ${en}`): IAnnouncement {
  return { id, text: { zh, en }, starts: '2030-01-01T08:00:00Z', ends: '2030-01-01T18:00:00Z', scope: 'all' };
}

/** The status model, its polls answered with the statuses given (the last one again and again). */
function modelAnswering(statuses: IStatus[]): StatusModel {
  let i = 0;
  const fetch = async (): Promise<StatusAnswer> => {
    const s = statuses[Math.min(i++, statuses.length - 1)];
    return { kind: 'fresh', status: s, etag: `"${i}"` };
  };
  return new StatusModel({ fetch, language: 'zh-CN' });
}

/** The banner as the widget wires it: each status the model tells of goes through the feed. */
function banner(model: StatusModel, feed = new AnnouncementFeed(), language = 'en') {
  const shown: { list: IAnnouncement[] } = { list: feed.update(model.state) };
  model.changed.connect((_, state) => {
    shown.list = feed.update(state);
  });
  return {
    feed,
    shown,
    poll: async () => {
      await act(async () => {
        await model.refresh();
      });
    },
    draw: () => render(
      <AnnouncementBanner
        announcements={shown.list}
        trans={trans}
        language={language}
        onDismiss={id => {
          shown.list = feed.dismiss(id);
        }}
      />
    )
  };
}

function texts(el: HTMLElement): string[] {
  return [...el.querySelectorAll('.jp-npuhub-announcement-text')].map(e => e.textContent!);
}

describe('announcement banner', () => {
  beforeEach(() => window.localStorage.clear());

  it('shows what is announced in the display language, and nothing once it has ended', async () => {
    const model = modelAnswering([
      status({ announcements: [announcement('a1', 'Workshop AI101 starts at 14:00')] }),
      status({ announcements: [] })
    ]);
    const b = banner(model, new AnnouncementFeed(), 'zh-CN');
    expect(b.draw().querySelector('.jp-npuhub-announcements')).toBeNull();
    await b.poll();
    const el = b.draw();
    expect(texts(el)).toEqual(['中文 Workshop AI101 starts at 14:00']);
    expect(el.querySelector('.jp-npuhub-announcement-until')!.textContent).toMatch(/^until /);
    await b.poll();
    expect(b.shown.list).toEqual([]);
    model.dispose();
  });

  it('remembers a dismissal in localStorage, across reloads, and forgets it once the announcement ends', async () => {
    const both = status({
      announcements: [announcement('a1', 'Maintenance tonight'), announcement('a2', 'Workshop at 14:00')]
    });
    let model = modelAnswering([both]);
    let b = banner(model);
    await b.poll();
    const el = b.draw();
    expect(texts(el)).toHaveLength(2);
    act(() => (el.querySelector('.jp-npuhub-announcement-dismiss') as HTMLElement).click());
    expect(b.shown.list.map(a => a.id)).toEqual(['a2']);
    expect(JSON.parse(window.localStorage.getItem(DISMISSED_KEY)!)).toEqual(['a1']);
    model.dispose();

    // a reload: a new feed and model, the same browser storage
    model = modelAnswering([both, status({ announcements: [announcement('a2', 'Workshop at 14:00')] })]);
    b = banner(model);
    await b.poll();
    expect(texts(b.draw())).toEqual(['Workshop at 14:00']);
    await b.poll(); // a1 has ended: its dismissal is forgotten
    expect(JSON.parse(window.localStorage.getItem(DISMISSED_KEY)!)).toEqual([]);
    model.dispose();
  });

  it('keeps what it showed while the service cannot be asked or sends no announcements', async () => {
    const model = modelAnswering([
      status({ announcements: [announcement('a1', 'Maintenance tonight')] }),
      status({ available: false, error: { error: 'x', reason: 'service_unreachable' }, me: null }),
      status({ announcements: null })
    ]);
    const b = banner(model);
    for (let i = 0; i < 3; i++) {
      await b.poll();
      expect(b.shown.list.map(a => a.id)).toEqual(['a1']);
    }
    model.dispose();
  });

  it('survives a broken or missing storage', () => {
    window.localStorage.setItem(DISMISSED_KEY, '{not json');
    const store = new DismissedAnnouncements();
    expect(store.has('a1')).toBe(false);
    store.add('a1');
    expect(store.has('a1')).toBe(true);
    const none = new DismissedAnnouncements(null);
    none.add('a1');
    expect(none.has('a1')).toBe(false);
  });
});

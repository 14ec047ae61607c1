import { Gettext } from '@jupyterlab/translation';
import * as React from 'react';

import { StatusText } from '../components/StatusText';
import { stateOf } from '../model';
import { account, me, request, status } from './fixtures';
import { cleanup, render } from './render';

declare const require: (path: string) => any;
// The file the build ships and the server hands to the front end.
const zh = require('../../npuhub_lab/locale/zh_CN/LC_MESSAGES/npuhub_lab.json');

afterEach(cleanup);

/** What JupyterLab's TranslationManager does with the server's /lab/api/translations/zh_CN. */
function chinese(): Gettext {
  const bundle = new Gettext({ domain: 'npuhub_lab', locale: 'zh_CN' });
  bundle.loadJSON({ ...zh, '': { ...zh[''], pluralForms: zh[''].plural_forms } }, 'npuhub_lab');
  return bundle;
}

describe('zh_CN translation', () => {
  it('is what the status bar says to a user whose language is Simplified Chinese', () => {
    const el = render(
      <StatusText
        state={stateOf(
          status({
            me: me({
              holdings: [request()],
              waiting: [request({ id: 'r-2', state: 'waiting', position: 3 })],
              accounts: [account('user:alice', 6.5)]
            })
          })
        )}
        trans={chinese()}
      />
    );
    expect(el.textContent).toBe('1/4 Ascend 910B · 剩余 6.5 小时 · 排队：第 3 位');
  });

  it('translates plural messages, which Chinese writes with one form', () => {
    expect(chinese().ngettext('%1 waiting', '%1 waiting', 2, 2)).toBe('2 个排队');
  });

  it('translates the sentence for a missing server part', () => {
    const el = render(<StatusText state={{ kind: 'missing' }} trans={chinese()} />);
    expect(el.textContent).toBe('此服务器上没有安装 npuhub 服务端组件，请联系计算中心工作人员。');
  });
});

describe('zh_CN translation of the new sections', () => {
  it('speaks Chinese in the sharing section, the Dask workers and the banner', async () => {
    const { act } = await import('react');
    const { Sharing } = await import('../components/Sharing');
    const { DaskClusters } = await import('../components/DaskClusters');
    const { AnnouncementBanner } = await import('../components/Announcements');
    const api = {
      list: async () => ({ ok: true as const, list: { owner: 'alice', server: '', shares: [] } }),
      grant: async () => ({ ok: false as const, error: '', reason: '' }),
      revoke: async () => ({ ok: false as const, error: '', reason: '' })
    };
    const el = render(<Sharing api={api} groups={['lab-x']} trans={chinese()} language="zh-CN" />);
    await act(async () => {
      await new Promise(resolve => setTimeout(resolve, 0));
    });
    expect(el.querySelector('h3')!.textContent).toBe('共享');
    expect(el.querySelector('.jp-npuhub-share-none')!.textContent).toBe('只有您可以使用此服务器。');
    expect(el.querySelector('.jp-npuhub-share-group-button')!.getAttribute('title')).toBe('共享给该组');

    const dask = render(
      <DaskClusters
        clusters={[
          {
            id: 'c-1', user: 'alice', name: 'sweep', flavor: 'npu-quarter', share: '1/4', state: 'running',
            workers: { wanted: 8, running: 4, waiting: 4, position: 2, eta_seconds: 300 },
            message: null, dashboard_link: '/services/npuhub/dask/c-1/status'
          }
        ]}
        flavors={[]}
        trans={chinese()}
      />
    );
    expect(dask.querySelector('h3')!.textContent).toBe('Dask 工作进程');
    expect(dask.querySelector('.jp-npuhub-cluster-workers')!.textContent).toBe('8 个工作进程中 4 个在运行，每个 1/4');

    const banner = render(
      <AnnouncementBanner
        announcements={[{ id: 'a', text: { zh: '今晚维护', en: 'Maintenance tonight' } }]}
        trans={chinese()}
        language="zh-CN"
        onDismiss={() => undefined}
      />
    );
    expect(banner.querySelector('.jp-npuhub-announcement-text')!.textContent).toBe('今晚维护');
    expect(banner.querySelector('.jp-npuhub-announcement-dismiss')!.getAttribute('title')).toBe('关闭');
  });
});

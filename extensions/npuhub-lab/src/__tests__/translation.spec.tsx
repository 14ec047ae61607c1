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

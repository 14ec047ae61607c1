import * as React from 'react';

import { clustersOf, dashboardPath } from '../components/DaskClusters';
import { Panel } from '../components/Panel';
import { StatusText } from '../components/StatusText';
import { stateOf } from '../model';
import { ICluster } from '../tokens';
import { me, request, status, trans } from './fixtures';
import { cleanup, render } from './render';

afterEach(cleanup);

function cluster(over: Partial<ICluster> = {}): ICluster {
  return {
    id: 'c-7',
    user: 'alice',
    name: 'sweep',
    flavor: 'npu-quarter',
    share: '1/4',
    state: 'running',
    workers: { wanted: 8, running: 4, waiting: 4, position: 2, eta_seconds: 300 },
    message: {
      zh: '8 个 worker 中 4 个在运行，4 个在排队：排在第 2 位，约 5 分钟',
      en: '4 of 8 workers running, 4 waiting: 2nd in line, about 5 minutes'
    },
    dashboard_link: '/services/npuhub/dask/c-7/status',
    ...over
  };
}

/** The scheduler (no accelerator) and two workers of cluster c-7, beside this server's own quarter. */
const holdings = [
  request({ id: 'nb', server: '' }),
  request({ id: 'c-7-s', server: 'dask:c-7', cluster: 'c-7', share: '0', model: null, flavor: 'cpu' }),
  request({ id: 'c-7-w0', server: 'dask:c-7', cluster: 'c-7' }),
  request({ id: 'c-7-w1', server: 'dask:c-7', cluster: 'c-7' })
];

describe('Dask workers in the panel', () => {
  it("shows the service's clusters: workers, each one's share, the sentence and the dashboard", () => {
    const state = stateOf(status({ me: me({ holdings }), clusters: [cluster()] }), 'zh-CN');
    const el = render(<Panel state={state} trans={trans} language="zh-CN" />);
    const dask = el.querySelector('.jp-npuhub-dask')!;
    expect(dask.querySelector('h3')!.textContent).toBe('Dask workers');
    expect(dask.querySelector('.jp-npuhub-cluster-workers')!.textContent).toBe(
      '4 of 8 workers running, 1/4 each'
    );
    expect(dask.querySelector('.jp-npuhub-cluster-message')!.textContent).toBe(
      '8 个 worker 中 4 个在运行，4 个在排队：排在第 2 位，约 5 分钟'
    );
    expect(dask.querySelector('a.jp-npuhub-dashboard')!.getAttribute('href')).toBe(
      '/services/npuhub/dask/c-7/status'
    );
    expect(dask.textContent).toContain('sweep');
    // the cluster's requests are not listed again under "Held now": only this server's quarter is
    expect(el.querySelectorAll('.jp-npuhub-holdings li')).toHaveLength(1);
  });

  it("groups my holdings by cluster when the service sends no clusters, workers only", () => {
    const rows = clustersOf(undefined, holdings);
    expect(rows).toHaveLength(1);
    expect(rows[0].workers).toMatchObject({ wanted: 2, running: 2 });
    expect(rows[0].share).toBe('1/4');
    expect(rows[0].dashboard_link).toBe(dashboardPath('c-7'));
    const el = render(<Panel state={stateOf(status({ me: me({ holdings }) }))} trans={trans} />);
    expect(el.querySelector('.jp-npuhub-cluster-workers')!.textContent).toBe(
      '2 of 2 workers running, 1/4 each'
    );
  });

  it('leaves closed clusters out, and shows no section without any', () => {
    expect(clustersOf([cluster({ state: 'closed' })], holdings)).toEqual([]);
    const el = render(<Panel state={stateOf(status({ clusters: [] }))} trans={trans} />);
    expect(el.querySelector('.jp-npuhub-dask')).toBeNull();
  });

  it("does not count a cluster's scheduler and workers as more sessions in the status bar, but says Dask", () => {
    const el = render(<StatusText state={stateOf(status({ me: me({ holdings }) }))} trans={trans} />);
    expect(el.querySelector('.jp-npuhub-status-slice')!.textContent).toBe('1/4 Ascend 910B');
    expect(el.querySelector('.jp-npuhub-status-dask')!.textContent).toBe('Dask 2/2 workers');
    const waiting = render(
      <StatusText state={stateOf(status({ me: me({ holdings }), clusters: [cluster()] }))} trans={trans} />
    );
    expect(waiting.querySelector('.jp-npuhub-status-dask')!.textContent).toBe('Dask 4/8 workers');
    const none = render(<StatusText state={stateOf(status({ me: me({ holdings: [request()] }) }))} trans={trans} />);
    expect(none.querySelector('.jp-npuhub-status-dask')).toBeNull();
  });

  it("never shows a worker as this server's slice in the status bar", () => {
    const workersOnly = holdings.slice(1);
    const el = render(
      <StatusText state={stateOf(status({ me: me({ holdings: workersOnly }), server_name: 'other' }))} trans={trans} />
    );
    expect(el.querySelector('.jp-npuhub-status-slice')).toBeNull();
  });
});

/**
 * The panel's Dask section: my clusters' workers among my holdings, with each
 * worker's share, the cluster's sentence ("4 of 8 workers running, 4 waiting:
 * 2nd in line, about 5 minutes") and its dashboard through the hub.
 *
 * From the service's clusters when the status has them; else from my holdings
 * that belong to a cluster (`cluster` set), grouped by cluster.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { pickText } from '../model';
import { ICluster, IFlavorView, IRequestView } from '../tokens';
import { flavorName } from '../view';

/** The dashboard of cluster `id` through the hub (contract B), when the service gives no link. */
export function dashboardPath(id: string): string {
  return `/services/npuhub/dask/${encodeURIComponent(id)}/status`;
}

/** One row per cluster: the service's clusters (open ones), or my holdings grouped by cluster. */
export function clustersOf(
  clusters: ICluster[] | null | undefined,
  holdings: IRequestView[]
): ICluster[] {
  if (Array.isArray(clusters)) {
    return clusters.filter(c => c.state !== 'closed');
  }
  const byId = new Map<string, IRequestView[]>();
  for (const h of holdings) {
    if (h.cluster) {
      byId.set(h.cluster, [...(byId.get(h.cluster) ?? []), h]);
    }
  }
  return [...byId.entries()].map(([id, held]) => {
    // the scheduler holds no accelerator: the workers are the ones with a share, or all of them
    const workers = held.filter(h => h.share && h.share !== '0');
    const shown = workers.length > 0 ? workers : held;
    return {
      id,
      user: held[0].user,
      name: null,
      flavor: shown[0].flavor,
      share: shown[0].share,
      state: 'running',
      workers: { wanted: shown.length, running: shown.length, waiting: 0, position: null, eta_seconds: null },
      message: null,
      dashboard_link: held.find(h => h.dashboard_url)?.dashboard_url ?? dashboardPath(id)
    };
  });
}

export interface IDaskProps {
  clusters: ICluster[];
  flavors: IFlavorView[];
  trans: TranslationBundle;
  language?: string;
}

export function DaskClusters(props: IDaskProps): JSX.Element {
  const { clusters, flavors, trans } = props;
  const language = props.language ?? 'en';
  return (
    <section className="jp-npuhub-section jp-npuhub-dask">
      <h3>{trans.__('Dask workers')}</h3>
      <ul>
        {clusters.map(c => {
          const message = pickText(c.message, language);
          const share = c.share && c.share !== '0' ? c.share : flavorName(c.flavor, flavors);
          return (
            <li key={c.id} className="jp-npuhub-cluster">
              <div>
                <strong>{c.name || c.id}</strong>{' '}
                <span className="jp-npuhub-small">{trans.__('flavor %1', flavorName(c.flavor, flavors))}</span>
              </div>
              <div className="jp-npuhub-cluster-workers">
                {trans.__('%1 of %2 workers running, %3 each', c.workers.running, c.workers.wanted, share)}
              </div>
              {message && <div className="jp-npuhub-small jp-npuhub-cluster-message">{message}</div>}
              <div>
                <a
                  className="jp-npuhub-dashboard"
                  href={c.dashboard_link || dashboardPath(c.id)}
                  target="_blank"
                  rel="noopener noreferrer"
                >
                  {trans.__('Dashboard')}
                </a>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

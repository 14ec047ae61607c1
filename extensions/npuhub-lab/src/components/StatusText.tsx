/** The status-bar item: the slice I hold, quota left, my place in the queue. */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { State } from '../tokens';
import { clustersOf } from './DaskClusters';
import {
  holdingHere,
  mainAccount,
  ordinal,
  problemSentence,
  quotaLevel,
  quotaText,
  sliceLabel
} from '../view';

export interface IStatusTextProps {
  state: State;
  trans: TranslationBundle;
  onClick?: () => void;
}

export function StatusText(props: IStatusTextProps): JSX.Element {
  const { state, trans, onClick } = props;
  const parts: JSX.Element[] = [];
  let title = trans.__('NPU: click for details');
  const problem = problemSentence(state, trans);
  if (state.kind === 'loading') {
    parts.push(<span key="loading">{trans.__('NPU: …')}</span>);
  } else if (problem !== null) {
    title = problem;
    const cls = state.kind === 'down' ? 'jp-npuhub-warn' : 'jp-npuhub-error';
    parts.push(
      <span key="problem" className={`jp-npuhub-status-problem ${cls}`}>
        {problem}
      </span>
    );
  } else if (state.kind === 'ok' && state.status.me) {
    const { me, server_name } = state.status;
    const holding = holdingHere(me, server_name);
    if (holding) {
      // a Dask cluster's scheduler and workers are the panel's to list, not "more" sessions here
      const others = me.holdings.filter(h => !h.cluster && h !== holding).length;
      parts.push(
        <span key="slice" className="jp-npuhub-status-slice">
          {others > 0
            ? trans.__('%1 (+%2 more)', sliceLabel(holding, me.flavors), others)
            : sliceLabel(holding, me.flavors)}
        </span>
      );
    }
    const account = mainAccount(me, server_name);
    if (account) {
      const level = quotaLevel(account);
      parts.push(
        <span
          key="quota"
          className={`jp-npuhub-status-quota${level === 'ok' ? '' : ' jp-npuhub-warn'}`}
        >
          {quotaText(account, trans)}
        </span>
      );
    }
    const clusters = clustersOf(state.status.clusters, me.holdings);
    if (clusters.length > 0) {
      const running = clusters.reduce((n, c) => n + c.workers.running, 0);
      const wanted = clusters.reduce((n, c) => n + c.workers.wanted, 0);
      parts.push(
        <span key="dask" className="jp-npuhub-status-dask">
          {trans.__('Dask %1/%2 workers', running, wanted)}
        </span>
      );
    }
    const waiting = me.waiting.filter(w => w.position !== null);
    if (waiting.length > 0) {
      const first = Math.min(...waiting.map(w => w.position as number));
      parts.push(
        <span key="queue" className="jp-npuhub-status-queue">
          {trans.__('queued: %1', ordinal(first, trans))}
        </span>
      );
    }
    if (parts.length === 0) {
      parts.push(<span key="none">{trans.__('NPU: none held')}</span>);
    }
  } else {
    parts.push(<span key="none">{trans.__('NPU: none held')}</span>);
  }
  const withSeparators: JSX.Element[] = [];
  parts.forEach((part, i) => {
    if (i > 0) {
      withSeparators.push(
        <span key={`sep${i}`} className="jp-npuhub-sep">
          {' · '}
        </span>
      );
    }
    withSeparators.push(part);
  });
  return (
    <div
      className="jp-npuhub-status"
      title={title}
      role="button"
      tabIndex={0}
      onClick={onClick}
      onKeyDown={event => {
        if (onClick && (event.key === 'Enter' || event.key === ' ')) {
          onClick();
        }
      }}
    >
      {withSeparators}
    </div>
  );
}

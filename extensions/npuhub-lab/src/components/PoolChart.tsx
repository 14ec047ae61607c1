/** The pool's occupancy by device model: one plain SVG bar per model. */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IPoolModel } from '../tokens';

/** "3/4" → 0.75, "2" → 2; anything else → 0. */
export function parseShare(text: string | null | undefined): number {
  if (!text) {
    return 0;
  }
  const [num, den] = text.split('/');
  const value = den === undefined ? Number(num) : Number(num) / Number(den);
  return isFinite(value) ? value : 0;
}

const WIDTH = 200;
const HEIGHT = 12;

export function PoolChart(props: { models: IPoolModel[]; trans: TranslationBundle }): JSX.Element {
  const { models, trans } = props;
  if (models.length === 0) {
    return <p className="jp-npuhub-empty">{trans.__('The pool has no devices.')}</p>;
  }
  return (
    <ul className="jp-npuhub-pool">
      {models.map(m => {
        const capacity = parseShare(m.capacity);
        const held = capacity > 0 ? Math.min(1, parseShare(m.held) / capacity) : 0;
        const reserved = capacity > 0 ? Math.min(1 - held, parseShare(m.reserved) / capacity) : 0;
        return (
          <li key={m.model} className="jp-npuhub-pool-model">
            <div className="jp-npuhub-pool-label">
              <span className="jp-npuhub-pool-name">{m.model}</span>{' '}
              <span className="jp-npuhub-pool-numbers">
                {trans.__('%1 of %2 devices in use', m.held, m.capacity)}
                {m.waiting > 0 ? ' · ' + trans._n('%1 waiting', '%1 waiting', m.waiting) : ''}
              </span>
            </div>
            <svg
              className="jp-npuhub-pool-bar"
              viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
              preserveAspectRatio="none"
              role="img"
              aria-label={trans.__('%1 of %2 devices in use', m.held, m.capacity)}
            >
              <rect className="jp-npuhub-bar-track" x={0} y={0} width={WIDTH} height={HEIGHT} />
              <rect
                className="jp-npuhub-bar-held"
                x={0}
                y={0}
                width={WIDTH * held}
                height={HEIGHT}
              />
              <rect
                className="jp-npuhub-bar-reserved"
                x={WIDTH * held}
                y={0}
                width={WIDTH * reserved}
                height={HEIGHT}
              />
            </svg>
          </li>
        );
      })}
    </ul>
  );
}

/** Lumino widgets that render the status model: the status-bar item and the side panel. */
import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { Panel } from './components/Panel';
import { StatusText } from './components/StatusText';
import { StatusModel } from './model';
import { State } from './tokens';

export class StatusItem extends ReactWidget {
  constructor(
    private _model: StatusModel,
    private _trans: TranslationBundle,
    private _onClick: () => void
  ) {
    super();
    this.addClass('jp-npuhub-status-item');
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed} initialArgs={this._model.state}>
        {(_, state) => (
          <StatusText state={state as State} trans={this._trans} onClick={this._onClick} />
        )}
      </UseSignal>
    );
  }
}

export class SidePanel extends ReactWidget {
  constructor(
    private _model: StatusModel,
    private _trans: TranslationBundle,
    private _onCancel: (id: string) => Promise<void>
  ) {
    super();
    this.id = 'npuhub-lab-panel';
    this.addClass('jp-npuhub-side-panel');
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed} initialArgs={this._model.state}>
        {(_, state) => (
          <Panel state={state as State} trans={this._trans} onCancel={this._onCancel} />
        )}
      </UseSignal>
    );
  }
}

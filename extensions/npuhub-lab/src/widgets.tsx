/** Lumino widgets that render the status model: the status-bar item and the side panel. */
import { ReactWidget } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ISharingApi } from './handler';
import { AnnouncementBanner, AnnouncementFeed } from './components/Announcements';
import { Panel } from './components/Panel';
import { StatusText } from './components/StatusText';
import { StatusModel } from './model';
import { IAnnouncement, State } from './tokens';

export class StatusItem extends ReactWidget {
  constructor(
    private _model: StatusModel,
    private _trans: TranslationBundle,
    private _onClick: () => void
  ) {
    super();
    this.addClass('jp-npuhub-status-item');
    this._model.changed.connect(this._onChanged, this);
  }

  // Rendered from the model's state at each change. (With UseSignal, a change that came between render()
  // and the component's mount was lost, and the view kept "loading" until the next change.)
  render(): JSX.Element {
    return <StatusText state={this._model.state} trans={this._trans} onClick={this._onClick} />;
  }

  dispose(): void {
    this._model.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  private _onChanged(): void {
    this.update();
  }
}

export class SidePanel extends ReactWidget {
  constructor(
    private _model: StatusModel,
    private _trans: TranslationBundle,
    private _onCancel: (id: string) => Promise<void>,
    private _language = 'en',
    private _sharing?: ISharingApi
  ) {
    super();
    this.id = 'npuhub-lab-panel';
    this.addClass('jp-npuhub-side-panel');
    this._model.changed.connect(this._onChanged, this);
  }

  // As the status item: rendered from the model's current state at each change, none lost before mount.
  render(): JSX.Element {
    return (
      <Panel
        state={this._model.state}
        trans={this._trans}
        onCancel={this._onCancel}
        language={this._language}
        sharing={this._sharing}
      />
    );
  }

  dispose(): void {
    this._model.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  private _onChanged(): void {
    this.update();
  }
}

/** Height of one announcement's line in the banner (px); the header area sizes by its widgets' minimum. */
const ANNOUNCEMENT_HEIGHT = 30;

/** The announcement banner above JupyterLab (the shell's header area); hidden when there is none. */
export class AnnouncementWidget extends ReactWidget {
  constructor(
    private _model: StatusModel,
    private _trans: TranslationBundle,
    private _language = 'en',
    private _feed = new AnnouncementFeed()
  ) {
    super();
    this.id = 'npuhub-lab-announcements';
    this.addClass('jp-npuhub-banner');
    this._model.changed.connect(this._onChanged, this);
    this._show(this._feed.update(this._model.state));
  }

  render(): JSX.Element | null {
    return (
      <AnnouncementBanner
        announcements={this._feed.shown}
        trans={this._trans}
        language={this._language}
        onDismiss={id => this._show(this._feed.dismiss(id))}
      />
    );
  }

  dispose(): void {
    this._model.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  private _onChanged(_: StatusModel, state: State): void {
    this._show(this._feed.update(state));
  }

  private _show(shown: IAnnouncement[]): void {
    this.node.style.minHeight = `${shown.length * ANNOUNCEMENT_HEIGHT}px`;
    this.setHidden(shown.length === 0);
    this.parent?.fit();
    this.update();
  }
}

/**
 * npuhub in JupyterLab: a status-bar item (my slice, quota left, my place in
 * the queue), a side panel with the details (my Dask workers, sharing this
 * server), an announcement banner, and notifications before a stop, with the
 * open documents saved first.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { cancelRequest, sharingApi } from './handler';
import { npuIcon } from './icons';
import { pickText, StatusModel } from './model';
import { Notifier } from './notify';
import { saveDirtyDocuments } from './save';
import { TRANSLATION_DOMAIN } from './tokens';
import { setTimeLocale } from './view';
import { AnnouncementWidget, SidePanel, StatusItem } from './widgets';

const PLUGIN_ID = 'npuhub-lab:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The NPU slice I hold, my quota and my place in the queue.',
  autoStart: true,
  optional: [IStatusBar, ITranslator, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    const language = translator?.languageCode ?? 'en';
    setTimeLocale(language);
    const model = new StatusModel({ language });

    const onCancel = async (id: string): Promise<void> => {
      const answer = await cancelRequest(id);
      if (!answer.ok) {
        const why = pickText(answer.message ?? answer.error, language);
        Notification.error(trans.__('Could not cancel the request: %1', why), {
          autoClose: 8000
        });
      }
      await model.refresh();
    };

    const panel = new SidePanel(model, trans, onCancel, language, sharingApi());
    panel.title.icon = npuIcon;
    panel.title.caption = trans.__('NPU');
    app.shell.add(panel, 'right', { rank: 900 });

    app.shell.add(new AnnouncementWidget(model, trans, language), 'header', { rank: 10 });

    if (statusBar) {
      const item = new StatusItem(model, trans, () => app.shell.activateById(panel.id));
      statusBar.registerStatusItem(PLUGIN_ID, { item, align: 'left', rank: 4 });
    }

    const notifier = new Notifier({
      trans,
      notify: (kind, message) => {
        Notification.emit(message, kind, { autoClose: false });
      },
      saveAll: () => saveDirtyDocuments(app.shell.widgets('main'))
    });
    // every poll, not only changes: while a stop warning lasts, each poll saves again
    model.polled.connect((_, state) => {
      if (state.kind === 'ok') {
        void notifier.update(state.status);
      }
    });

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            model.userInterval = (settings.get('pollInterval').composite as number) ?? 0;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => console.warn('npuhub-lab: settings not loaded', reason));
    }
    model.start();
  }
};

export default plugin;

import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { ToolbarButton } from '@jupyterlab/ui-components';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

/**
 * One graded item of the self-check service's answer (see autograder_check/__init__.py).
 */
interface ICheckItem {
  item?: unknown;
  status?: unknown;
  points?: unknown;
  max_points?: unknown;
  message?: unknown;
}

/**
 * The self-check service's answer, relayed by the server extension.
 */
interface ICheckAnswer {
  assignment?: unknown;
  items?: unknown;
  score?: unknown;
  max_score?: unknown;
  checks_left?: unknown;
  message?: unknown;
}

const PLUGIN_ID = 'autograder-check:plugin';
const ITEM_NAME = 'autograder-check';
const BUSY_CLASS = 'autograder-check-busy';

/**
 * Whether the notebook is an nbgrader assignment: some cell carries nbgrader metadata.
 */
function isAssignment(model: INotebookModel | null): boolean {
  if (!model) {
    return false;
  }
  for (let i = 0; i < model.cells.length; i++) {
    const nbgrader = model.cells.get(i).getMetadata('nbgrader');
    if (nbgrader && typeof nbgrader === 'object') {
      return true;
    }
  }
  return false;
}

/**
 * Whether a toolbar item is nbgrader's Validate button.  nbgrader 0.9 inserts it under the name
 * "runAll" with the class "validate-button" on its inner button.
 */
function isValidateButton(name: string, widget: Widget): boolean {
  if (widget.hasClass('validate-button')) {
    return true;
  }
  if (widget.node.querySelector('.validate-button')) {
    return true;
  }
  const props = (widget as unknown as { props?: { className?: unknown } })
    .props;
  const className = props && props.className;
  if (typeof className === 'string') {
    return className.split(/\s+/).includes('validate-button');
  }
  return name === 'runAll' && widget instanceof ToolbarButton;
}

/**
 * Put the button after nbgrader's Validate button, else at the end of the buttons (before the
 * toolbar's spacer, ahead of the kernel name and status).
 */
function placeButton(panel: NotebookPanel, button: ToolbarButton): void {
  const toolbar = panel.toolbar;
  const names = Array.from(toolbar.names());
  const widgets = Array.from(toolbar.children());
  let index = widgets.findIndex((widget, i) =>
    isValidateButton(names[i] ?? '', widget)
  );
  if (index >= 0) {
    index += 1;
  } else {
    index = widgets.findIndex(widget =>
      widget.hasClass('jp-Toolbar-spacer')
    );
    if (index < 0) {
      index = widgets.length;
    }
  }
  toolbar.insertItem(index, ITEM_NAME, button);
}

function text(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'string' ? value : String(value);
}

function points(value: unknown): string {
  return typeof value === 'number' && isFinite(value)
    ? String(Math.round(value * 100) / 100)
    : '';
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  content = '',
  className = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  // textContent only: nothing the service says is rendered as HTML.
  node.textContent = content;
  if (className) {
    node.className = className;
  }
  return node;
}

/**
 * The dialog's body: one row per item (status, points, message), the total, the checks left.
 */
function verdictBody(answer: ICheckAnswer): Widget {
  const node = element('div', '', 'autograder-check-verdicts');
  const items = Array.isArray(answer.items)
    ? (answer.items as ICheckItem[])
    : [];
  if (items.length === 0) {
    node.appendChild(
      element('p', 'The Check service graded no item of this notebook.')
    );
  } else {
    const table = element('table', '', 'autograder-check-table');
    const head = element('tr');
    for (const title of ['Item', 'Status', 'Points', 'Message']) {
      head.appendChild(element('th', title));
    }
    table.appendChild(element('thead')).appendChild(head);
    const body = table.appendChild(element('tbody'));
    for (const item of items) {
      const status = text(item.status);
      const row = element('tr');
      row.appendChild(element('td', text(item.item)));
      const statusClass = status.toLowerCase().replace(/[^a-z]/g, '');
      row.appendChild(
        element('td', status, `autograder-check-status-${statusClass}`)
      );
      const got = points(item.points);
      const max = points(item.max_points);
      row.appendChild(element('td', max ? `${got || '0'} / ${max}` : got));
      row.appendChild(
        element('td', text(item.message), 'autograder-check-message')
      );
      body.appendChild(row);
    }
    node.appendChild(table);
  }
  const score = points(answer.score);
  const maxScore = points(answer.max_score);
  if (score || maxScore) {
    node.appendChild(
      element(
        'p',
        `Total: ${score || '0'}${maxScore ? ` / ${maxScore}` : ''}`,
        'autograder-check-total'
      )
    );
  }
  if (typeof answer.checks_left === 'number') {
    node.appendChild(
      element(
        'p',
        `Checks left: ${answer.checks_left}`,
        'autograder-check-left'
      )
    );
  }
  node.appendChild(
    element(
      'p',
      'This is a check of the notebook as it is now, not a submission.',
      'autograder-check-note'
    )
  );
  return new Widget({ node });
}

function errorTitle(status: number): string {
  switch (status) {
    case 429:
      return 'Too many checks';
    case 404:
      return 'No Check for this notebook';
    case 403:
      return 'Check not allowed';
    default:
      return 'Check failed';
  }
}

/**
 * A dialog to show, once the button is no longer busy.
 */
type Verdict = () => Promise<unknown>;

function errorDialog(title: string, message: string): Verdict {
  const node = element('div', '', 'autograder-check-error');
  node.appendChild(element('p', message));
  return () =>
    showDialog({
      title,
      body: new Widget({ node }),
      buttons: [Dialog.okButton()]
    });
}

/**
 * Save the notebook and ask the server extension to check it; resolves to the dialog that shows
 * the verdicts (or what went wrong).
 */
async function runCheck(
  context: DocumentRegistry.IContext<INotebookModel>,
  settings: ServerConnection.ISettings
): Promise<Verdict> {
  try {
    await context.save();
  } catch (reason) {
    return errorDialog('Check failed', `Could not save the notebook: ${reason}`);
  }
  const url = URLExt.join(settings.baseUrl, 'autograder-check', 'check');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'POST', body: JSON.stringify({ path: context.path }) },
      settings
    );
  } catch (reason) {
    return errorDialog(
      'Check failed',
      `Could not reach the notebook server: ${reason}`
    );
  }
  let answer: ICheckAnswer = {};
  try {
    const data: unknown = JSON.parse(await response.text());
    if (data && typeof data === 'object' && !Array.isArray(data)) {
      answer = data as ICheckAnswer;
    }
  } catch {
    // Not JSON: reported below from the status alone.
  }
  if (!response.ok) {
    const message =
      text(answer.message) ||
      `The Check answered HTTP ${response.status} ${response.statusText}.`;
    return errorDialog(errorTitle(response.status), message);
  }
  const assignment = text(answer.assignment);
  const body = verdictBody(answer);
  return () =>
    showDialog({
      title: assignment ? `Check: ${assignment}` : 'Check',
      body,
      buttons: [Dialog.okButton()]
    });
}

/**
 * Adds the Check button to the toolbar of every nbgrader notebook.
 */
class CheckButtonExtension
  implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel>
{
  constructor(private readonly settings: ServerConnection.ISettings) {}

  createNew(
    panel: NotebookPanel,
    context: DocumentRegistry.IContext<INotebookModel>
  ): IDisposable {
    let busy = false;
    const button = new ToolbarButton({
      className: 'autograder-check-button',
      label: 'Check',
      tooltip:
        'Check this notebook as it is now with the hidden tests (not a submission)',
      onClick: () => {
        if (busy) {
          return;
        }
        busy = true;
        button.enabled = false;
        button.addClass(BUSY_CLASS);
        const done = (): void => {
          busy = false;
          button.enabled = true;
          button.removeClass(BUSY_CLASS);
        };
        void runCheck(context, this.settings)
          .catch((reason: unknown) =>
            errorDialog('Check failed', `Unexpected error: ${reason}`)
          )
          .then(show => {
            done();
            return show();
          });
      }
    });
    const updateVisibility = (): void => {
      button.setHidden(!isAssignment(context.model));
    };
    // Placed once the notebook is loaded: by then every toolbar extension (nbgrader's Validate
    // among them) has added its items, whatever the order the extensions were activated in.
    void context.ready.then(() => {
      if (button.isDisposed || panel.isDisposed) {
        return;
      }
      updateVisibility();
      placeButton(panel, button);
      context.model.cells.changed.connect(updateVisibility);
    });
    return new DisposableDelegate(() => {
      if (!context.isDisposed && context.model) {
        context.model.cells.changed.disconnect(updateVisibility);
      }
      button.dispose();
    });
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A Check button for nbgrader notebooks: grades the notebook as it is now with the hidden checks.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    app.docRegistry.addWidgetExtension(
      'Notebook',
      new CheckButtonExtension(app.serviceManager.serverSettings)
    );
  }
};

export default plugin;

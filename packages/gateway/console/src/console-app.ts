import type { ConsoleEvents, ConsoleIdentity } from '../../src/admin/console-messages.js';
import { ApprovalsView } from './approvals-view.js';
import { ConsoleClient } from './console-client.js';
import { DecisionChart } from './decision-chart.js';
import { DecisionsView } from './decisions-view.js';
import { byId } from './dom-builder.js';

/**
 * The approvals console's page: sign-in with a token, then the pending approvals, the history
 * and the live record, kept current by the server's event stream (no polling).
 */
function start(): void {
  const client = new ConsoleClient();
  const approvals = new ApprovalsView(async (id, verb, reason) => {
    const answer = await client.vote(id, verb, reason);
    if (answer.ok) return { ok: true };
    if (answer.status === 401) signedOut('Your session has ended. Sign in again.');
    return { ok: false, error: answer.error };
  });
  const decisions = new DecisionsView();
  const chart = new DecisionChart(byId('chart'));

  const live = byId('live');
  const setLive = (state: 'connecting' | 'live' | 'reconnecting'): void => {
    live.dataset.state = state;
    live.textContent = state === 'live' ? 'live' : state === 'connecting' ? 'connecting…' : 'reconnecting…';
  };

  const onEvent = <E extends keyof ConsoleEvents>(event: E, data: ConsoleEvents[E]): void => {
    switch (event) {
      case 'snapshot': {
        const s = data as ConsoleEvents['snapshot'];
        approvals.reset(s.pending, s.history, s.server_time);
        decisions.reset(s.decisions);
        chart.reset(s.per_minute, s.server_time);
        setLive('live');
        break;
      }
      case 'approval':
        approvals.update(data as ConsoleEvents['approval']);
        break;
      case 'decision': {
        const d = data as ConsoleEvents['decision'];
        decisions.add(d);
        chart.add(d.at, d.effect);
        break;
      }
      case 'signed-out':
        signedOut(`You were signed out: ${(data as ConsoleEvents['signed-out']).reason}.`);
        break;
    }
  };

  const signedIn = (identity: ConsoleIdentity): void => {
    byId('who-name').textContent = `${identity.id} (${identity.kind})`;
    byId('who').hidden = false;
    byId('sign-in').hidden = true;
    byId('app').hidden = false;
    setLive('connecting');
    client.stream({ onEvent, onState: setLive, onSignedOut: signedOut });
  };

  const signedOut = (message: string): void => {
    client.stop();
    byId('who').hidden = true;
    byId('app').hidden = true;
    byId('sign-in').hidden = false;
    byId('sign-in-error').textContent = message;
    byId<HTMLInputElement>('token').focus();
  };

  byId<HTMLFormElement>('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>('token');
    const button = byId<HTMLButtonElement>('sign-in-button');
    const error = byId('sign-in-error');
    error.textContent = '';
    button.disabled = true;
    void client.signIn(input.value).then((answer) => {
      button.disabled = false;
      if (!answer.ok) {
        error.textContent = answer.error;
        input.select();
        return;
      }
      // The token is not kept in the page once it has been exchanged for a session.
      input.value = '';
      signedIn(answer.body.identity);
    });
  });

  byId('sign-out').addEventListener('click', () => {
    void client.signOut().then(() => signedOut('You signed out.'));
  });

  window.setInterval(() => approvals.tick(), 1000);
  window.setInterval(() => chart.draw(), 15_000);

  void client.session().then((answer) => {
    if (answer.ok) signedIn(answer.body.identity);
    else signedOut(answer.status === 401 ? '' : answer.error);
  });
}

start();

/**
 * The dispatcher: `dispatcher.list` (sets, destinations, state letters, latency), `dispatcher.set_state a|i`
 * and `dispatcher.reload`.
 */
import { rpc } from '../api';
import { ErrorMessage, Notice, PageHeader, useAction, useLoad } from '../components';

interface Destination {
  DEST: {
    URI: string;
    FLAGS: string;
    PRIORITY: number;
    ATTRS: { BODY: string; DUID: string; WEIGHT: number };
    LATENCY: { AVG: number; STD: number; EST: number; MAX: number; TIMEOUT: number };
    RUNTIME?: { DLGLOAD: number };
  };
}

interface List {
  NRSETS: number;
  RECORDS: { SET: { ID: number; TARGETS: Destination[] } }[];
}

const STATES: Record<string, string> = { A: 'active', I: 'inactive', D: 'disabled', T: 'trying' };

function stateOf(flags: string): string {
  const name = STATES[flags[0] ?? ''] ?? flags;
  return flags.includes('P') ? `${name}, probing` : name;
}

export function Dispatcher() {
  const list = useLoad(() => rpc<List>('dispatcher.list'));
  const action = useAction();

  const setState = async (state: 'a' | 'i', set: number, uri: string) => {
    const ok = await action.run(
      () => rpc('dispatcher.set_state', state, set, uri),
      `${uri} is now ${state === 'a' ? 'active' : 'inactive'}.`,
    );
    if (ok) await list.reload();
  };

  const sets = list.data?.RECORDS ?? [];
  return (
    <section>
      <PageHeader title="Dispatcher">
        <button type="button" onClick={() => void list.reload()} disabled={list.loading}>
          Refresh
        </button>
        <button
          type="button"
          onClick={async () => {
            if (await action.run(() => rpc('dispatcher.reload'), 'Reloaded the destination list.'))
              await list.reload();
          }}
          disabled={action.busy}
        >
          Reload list
        </button>
      </PageHeader>
      <ErrorMessage error={action.error ?? list.error} />
      <Notice text={action.notice} />
      {!list.loading && list.error === undefined && sets.length === 0 ? <p>No destination sets.</p> : null}
      {sets.map(({ SET }) => (
        <table key={SET.ID} aria-label={`Set ${SET.ID}`} class="dispatcher-set">
          <caption>Set {SET.ID}</caption>
          <thead>
            <tr>
              <th scope="col">Destination</th>
              <th scope="col">State</th>
              <th scope="col">Priority</th>
              <th scope="col">Attributes</th>
              <th scope="col">Latency avg / max (ms)</th>
              <th scope="col">Timeouts</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {SET.TARGETS.map(({ DEST: d }) => {
              const active = d.FLAGS.startsWith('A') || d.FLAGS.startsWith('T');
              return (
                <tr key={d.URI}>
                  <td class="mono">{d.URI}</td>
                  <td>
                    <abbr title={stateOf(d.FLAGS)} data-flags={d.FLAGS}>
                      {d.FLAGS}
                    </abbr>{' '}
                    <span class="state-name">{stateOf(d.FLAGS)}</span>
                  </td>
                  <td>{d.PRIORITY}</td>
                  <td class="mono">{d.ATTRS.BODY}</td>
                  <td>
                    {d.LATENCY.AVG} / {d.LATENCY.MAX}
                  </td>
                  <td>{d.LATENCY.TIMEOUT}</td>
                  <td class="actions">
                    {active ? (
                      <button
                        type="button"
                        aria-label={`Deactivate ${d.URI}`}
                        onClick={() => void setState('i', SET.ID, d.URI)}
                      >
                        Deactivate
                      </button>
                    ) : (
                      <button
                        type="button"
                        aria-label={`Activate ${d.URI}`}
                        onClick={() => void setState('a', SET.ID, d.URI)}
                      >
                        Activate
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ))}
    </section>
  );
}

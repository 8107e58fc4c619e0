/** Aliases (the dbaliases table): `alias.list`, `alias.add`, `alias.rm`. */
import { useState } from 'preact/hooks';
import { rpc } from '../api';
import { ConfirmButton, ErrorMessage, Notice, PageHeader, useAction, useLoad } from '../components';

interface Alias {
  alias: string;
  target: string;
}

export function Aliases() {
  const list = useLoad(() => rpc<Alias[]>('alias.list'));
  const action = useAction();
  const [alias, setAlias] = useState('');
  const [target, setTarget] = useState('');

  const add = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(() => rpc('alias.add', alias, target), `Added ${alias} → ${target}.`);
    if (ok) {
      setAlias('');
      setTarget('');
      await list.reload();
    }
  };

  return (
    <section>
      <PageHeader title="Aliases" />
      <form class="add" onSubmit={add} aria-label="Add an alias">
        <label>
          Alias
          <input
            name="alias"
            placeholder="sales@example.com"
            required
            value={alias}
            onInput={(e) => setAlias(e.currentTarget.value)}
          />
        </label>
        <label>
          Subscriber
          <input
            name="target"
            placeholder="alice@example.com"
            required
            value={target}
            onInput={(e) => setTarget(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={action.busy}>
          Add alias
        </button>
      </form>
      <ErrorMessage error={action.error ?? list.error} />
      <Notice text={action.notice} />
      <table aria-label="Aliases" aria-busy={list.loading}>
        <thead>
          <tr>
            <th scope="col">Alias</th>
            <th scope="col">Subscriber</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(list.data ?? []).map((a) => (
            <tr key={`${a.alias} ${a.target}`}>
              <td>{a.alias}</td>
              <td>{a.target}</td>
              <td class="actions">
                <ConfirmButton
                  label="Remove"
                  question={`Remove ${a.alias}?`}
                  confirmLabel={`Yes, remove ${a.alias}`}
                  onConfirm={async () => {
                    if (await action.run(() => rpc('alias.rm', a.alias), `Removed ${a.alias}.`))
                      await list.reload();
                  }}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!list.loading && (list.data ?? []).length === 0 ? <p>No aliases.</p> : null}
    </section>
  );
}

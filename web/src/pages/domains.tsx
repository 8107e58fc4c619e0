/** The domain table: `domain.list`, `domain.add`, `domain.rm` (the domain cache is reloaded by the server). */
import { useState } from 'preact/hooks';
import { rpc } from '../api';
import { ConfirmButton, ErrorMessage, Notice, PageHeader, useAction, useLoad } from '../components';

interface Domain {
  domain: string;
  did?: string;
  lastModified: string;
}

export function Domains() {
  const list = useLoad(() => rpc<Domain[]>('domain.list'));
  const action = useAction();
  const [domain, setDomain] = useState('');
  const [did, setDid] = useState('');

  const add = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(
      () => rpc('domain.add', domain, did === '' ? undefined : did),
      `Added ${domain}.`,
    );
    if (ok) {
      setDomain('');
      setDid('');
      await list.reload();
    }
  };

  return (
    <section>
      <PageHeader title="Domains" />
      <form class="add" onSubmit={add} aria-label="Add a domain">
        <label>
          Domain
          <input
            name="domain"
            placeholder="example.com"
            required
            value={domain}
            onInput={(e) => setDomain(e.currentTarget.value)}
          />
        </label>
        <label>
          Domain id (optional)
          <input name="did" value={did} onInput={(e) => setDid(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={action.busy}>
          Add domain
        </button>
      </form>
      <ErrorMessage error={action.error ?? list.error} />
      <Notice text={action.notice} />
      <table aria-label="Domains" aria-busy={list.loading}>
        <thead>
          <tr>
            <th scope="col">Domain</th>
            <th scope="col">Domain id</th>
            <th scope="col">Last modified</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(list.data ?? []).map((d) => (
            <tr key={d.domain}>
              <td>{d.domain}</td>
              <td>{d.did ?? ''}</td>
              <td>{new Date(d.lastModified).toLocaleString()}</td>
              <td class="actions">
                <ConfirmButton
                  label="Remove"
                  question={`Remove ${d.domain}?`}
                  confirmLabel={`Yes, remove ${d.domain}`}
                  onConfirm={async () => {
                    if (await action.run(() => rpc('domain.rm', d.domain), `Removed ${d.domain}.`))
                      await list.reload();
                  }}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!list.loading && (list.data ?? []).length === 0 ? (
        <p>No domains in the table (the server's own names and configured domains still count as local).</p>
      ) : null}
    </section>
  );
}

/** Accounts: `subscriber.list` with a search, `subscriber.add`, `subscriber.passwd`, `subscriber.rm`. */
import { useState } from 'preact/hooks';
import { rpc } from '../api';
import {
  ConfirmButton,
  ErrorMessage,
  Notice,
  PageHeader,
  SearchBox,
  useAction,
  useLoad,
} from '../components';

interface Subscriber {
  address: string;
  username: string;
  domain: string;
  email?: string;
  created?: string;
}

function PasswordForm({ address, onDone }: { address: string; onDone(changed: boolean): void }) {
  const [password, setPassword] = useState('');
  const action = useAction();
  return (
    <form
      class="inline"
      onSubmit={async (e) => {
        e.preventDefault();
        if (await action.run(() => rpc('subscriber.passwd', address, password))) onDone(true);
      }}
    >
      <label>
        New password for {address}
        <input
          type="password"
          autocomplete="new-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      <button type="submit" disabled={action.busy}>
        Save password
      </button>
      <button type="button" onClick={() => onDone(false)}>
        Cancel
      </button>
      <ErrorMessage error={action.error} />
    </form>
  );
}

export function Subscribers() {
  const [search, setSearch] = useState('');
  const list = useLoad(() => rpc<Subscriber[]>('subscriber.list', '', search), [search]);
  const action = useAction();
  const [address, setAddress] = useState('');
  const [password, setPassword] = useState('');
  const [email, setEmail] = useState('');
  const [editing, setEditing] = useState<string | undefined>(undefined);

  const add = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(
      () => rpc('subscriber.add', address, password, email === '' ? undefined : email),
      `Added ${address}.`,
    );
    if (ok) {
      setAddress('');
      setPassword('');
      setEmail('');
      await list.reload();
    }
  };

  const filtered = list.data ?? [];
  return (
    <section>
      <PageHeader title="Subscribers">
        <SearchBox label="Search subscribers" value={search} onInput={setSearch} />
      </PageHeader>
      <form class="add" onSubmit={add} aria-label="Add a subscriber">
        <label>
          Address
          <input
            name="address"
            placeholder="user@example.com"
            required
            value={address}
            onInput={(e) => setAddress(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="new-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <label>
          Email (optional)
          <input name="email" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={action.busy}>
          Add subscriber
        </button>
      </form>
      <ErrorMessage error={action.error ?? list.error} />
      <Notice text={action.notice} />
      <table aria-label="Subscribers" aria-busy={list.loading}>
        <thead>
          <tr>
            <th scope="col">Address</th>
            <th scope="col">Email</th>
            <th scope="col">Created</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {filtered.map((s) => (
            <tr key={s.address}>
              <td>{s.address}</td>
              <td>{s.email ?? ''}</td>
              <td>{s.created === undefined ? '' : new Date(s.created).toLocaleString()}</td>
              <td class="actions">
                {editing === s.address ? (
                  <PasswordForm
                    address={s.address}
                    onDone={(changed) => {
                      setEditing(undefined);
                      if (changed) void action.run(async () => {}, `Changed the password of ${s.address}.`);
                    }}
                  />
                ) : (
                  <button type="button" onClick={() => setEditing(s.address)}>
                    Change password
                  </button>
                )}
                <ConfirmButton
                  label="Remove"
                  question={`Remove ${s.address}?`}
                  confirmLabel={`Yes, remove ${s.address}`}
                  onConfirm={async () => {
                    if (await action.run(() => rpc('subscriber.rm', s.address), `Removed ${s.address}.`))
                      await list.reload();
                  }}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!list.loading && filtered.length === 0 ? <p>No subscribers{search === '' ? '' : ' match'}.</p> : null}
    </section>
  );
}

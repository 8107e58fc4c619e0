/** Location records: `ul.dump` flattened to one row per contact, with a search; `ul.rm` / `ul.rm_contact`. */
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

interface Contact {
  Address: string;
  Expires: number | 'permanent';
  Q: number;
  'Call-ID': string;
  'User-Agent': string;
  Received: string;
  Path: string;
  Socket: string;
}

interface Dump {
  Domains: {
    Domain: { Domain: string; AoRs: { Info: { AoR: string; Contacts: { Contact: Contact }[] } }[] };
  }[];
}

interface Row {
  aor: string;
  contact: Contact;
}

function rows(dump: Dump | undefined): Row[] {
  const out: Row[] = [];
  for (const d of dump?.Domains ?? [])
    for (const a of d.Domain.AoRs)
      for (const c of a.Info.Contacts) out.push({ aor: a.Info.AoR, contact: c.Contact });
  return out;
}

const notSet = (s: string) => (s === '[not set]' ? '' : s);

export function Registrations() {
  const dump = useLoad(() => rpc<Dump>('ul.dump'));
  const action = useAction();
  const [search, setSearch] = useState('');
  const needle = search.toLowerCase();
  const all = rows(dump.data);
  const shown = all.filter(
    (r) =>
      needle === '' ||
      r.aor.toLowerCase().includes(needle) ||
      r.contact.Address.toLowerCase().includes(needle) ||
      r.contact['User-Agent'].toLowerCase().includes(needle),
  );
  const aors = new Set(all.map((r) => r.aor)).size;

  const remove = async (r: Row, whole: boolean) => {
    const ok = whole
      ? await action.run(() => rpc('ul.rm', 'location', r.aor), `Removed ${r.aor}.`)
      : await action.run(
          () => rpc('ul.rm_contact', 'location', r.aor, r.contact.Address),
          `Removed ${r.contact.Address} of ${r.aor}.`,
        );
    if (ok) await dump.reload();
  };

  return (
    <section>
      <PageHeader title="Registrations">
        <SearchBox label="Search registrations" value={search} onInput={setSearch} />
        <button type="button" onClick={() => void dump.reload()} disabled={dump.loading}>
          Refresh
        </button>
      </PageHeader>
      <p class="summary" role="status">
        {dump.data === undefined
          ? 'Loading…'
          : `${aors} address${aors === 1 ? '' : 'es'} of record, ${all.length} contact${all.length === 1 ? '' : 's'}${
              shown.length === all.length ? '' : `, ${shown.length} shown`
            }`}
      </p>
      <ErrorMessage error={action.error ?? dump.error} />
      <Notice text={action.notice} />
      <table aria-label="Registrations" aria-busy={dump.loading}>
        <thead>
          <tr>
            <th scope="col">Address of record</th>
            <th scope="col">Contact</th>
            <th scope="col">Expires in</th>
            <th scope="col">Received</th>
            <th scope="col">User agent</th>
            <th scope="col">Socket</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr key={`${r.aor} ${r.contact.Address}`}>
              <td>{r.aor}</td>
              <td class="mono">{r.contact.Address}</td>
              <td>{r.contact.Expires === 'permanent' ? 'permanent' : `${r.contact.Expires} s`}</td>
              <td class="mono">{notSet(r.contact.Received)}</td>
              <td>{r.contact['User-Agent']}</td>
              <td class="mono">{notSet(r.contact.Socket)}</td>
              <td class="actions">
                <ConfirmButton
                  label="Remove contact"
                  question={`Remove ${r.contact.Address}?`}
                  confirmLabel={`Yes, remove ${r.contact.Address}`}
                  onConfirm={() => void remove(r, false)}
                />
                <ConfirmButton
                  label="Remove AOR"
                  question={`Remove every contact of ${r.aor}?`}
                  confirmLabel={`Yes, remove ${r.aor}`}
                  onConfirm={() => void remove(r, true)}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatEvent,
  formatSubscriptionState,
  parseEvent,
  parseSubscriptionState,
} from '../../../src/sip/headers/event.js';
import { assertThrowsOnlyParseErrors, throwsParse } from './fixture-headers.js';

describe('parseEvent', () => {
  it('parses a package name', () => {
    const e = parseEvent('presence');
    assert.equal(e.type, 'presence');
    assert.equal(e.id, undefined);
    assert.equal(e.params.size, 0);
  });

  it('parses a template package and the id parameter', () => {
    const e = parseEvent('presence.winfo ; id=1234;other');
    assert.equal(e.type, 'presence.winfo');
    assert.equal(e.id, '1234');
    assert.equal(e.params.get('other'), null);
  });

  it('rejects empty parts around dots', () => {
    throwsParse(() => parseEvent('.presence'), /empty part/);
    throwsParse(() => parseEvent('presence.'), /empty part/);
    throwsParse(() => parseEvent('presence..winfo'), /empty part/);
  });

  it('rejects an id that is not a token, and an empty value', () => {
    throwsParse(() => parseEvent('dialog;id'), /id must be a token/);
    throwsParse(() => parseEvent('dialog;id="a b"'), /id must be a token/);
    throwsParse(() => parseEvent(''), /Event is empty/);
  });

  it('rejects several event types', () => {
    throwsParse(() => parseEvent('presence, dialog'), /single event type/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseEvent);
  });

  it('formats with the typed id', () => {
    const e = parseEvent('refer;id=93809824;x=y');
    e.id = '1';
    assert.equal(formatEvent(e), 'refer;id=1;x=y');
    e.id = undefined;
    assert.equal(formatEvent(e), 'refer;x=y');
    assert.equal(formatEvent({ type: 'dialog', id: '7', params: new Map() }), 'dialog;id=7');
  });
});

describe('parseSubscriptionState', () => {
  it('parses an active state with expires', () => {
    const s = parseSubscriptionState('Active;expires=3600');
    assert.equal(s.state, 'active');
    assert.equal(s.expires, 3600);
    assert.equal(s.reason, undefined);
    assert.equal(s.retryAfter, undefined);
  });

  it('parses terminated with reason and retry-after', () => {
    const s = parseSubscriptionState('terminated;reason=Timeout;retry-after=30');
    assert.equal(s.state, 'terminated');
    assert.equal(s.reason, 'timeout');
    assert.equal(s.retryAfter, 30);
  });

  it('rejects an expires above 2^32-1 or not a number', () => {
    throwsParse(() => parseSubscriptionState('active;expires=4294967296'), /expires exceeds 2\^32-1/);
    throwsParse(() => parseSubscriptionState('active;expires=soon'), /expires must be a decimal number/);
    throwsParse(() => parseSubscriptionState('active;expires'), /expires needs a value/);
  });

  it('rejects a reason that is not a token and an empty value', () => {
    throwsParse(() => parseSubscriptionState('terminated;reason="no way"'), /reason must be a token/);
    throwsParse(() => parseSubscriptionState(''), /empty/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseSubscriptionState);
  });

  it('formats with the typed fields', () => {
    const s = parseSubscriptionState('active;expires=600;x');
    s.expires = 300;
    assert.equal(formatSubscriptionState(s), 'active;expires=300;x');
    assert.equal(
      formatSubscriptionState({ state: 'terminated', reason: 'noresource', params: new Map() }),
      'terminated;reason=noresource',
    );
  });
});

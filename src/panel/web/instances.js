// The instance list (EC2 states), the launch button with its presets, and terminate. Launch and terminate are single
// requests to the REST API; the list itself arrives over the stream.
import { PRESETS } from './presets.js';
import { clockTime, h } from './format.js';

async function call(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  let parsed = null;
  try { parsed = await res.json(); } catch { /* not JSON */ }
  return { ok: res.ok, status: res.status, body: parsed };
}

export class Instances {
  /** onSelect(instanceId | null) */
  constructor({ table, count, preset, what, button, result }, onSelect) {
    this.tbody = table.querySelector('tbody');
    this.count = count;
    this.result = result;
    this.onSelect = onSelect;
    this.selected = null;
    this.list = [];
    for (const p of PRESETS) preset.append(h('option', { value: p.id }, p.label));
    const describe = () => { what.textContent = PRESETS.find((p) => p.id === preset.value)?.what ?? ''; };
    preset.addEventListener('change', describe);
    describe();
    button.addEventListener('click', () => void this.launch(PRESETS.find((p) => p.id === preset.value), button));
  }

  async launch(preset, button) {
    if (!preset) return;
    button.disabled = true;
    this.say('', `launching ${preset.label}…`);
    const ids = [];
    try {
      for (const body of preset.launches) {
        const r = await call('POST', '/v1/instances', body);
        if (!r.ok) {
          this.say('error', `launch failed (${r.status}${r.body?.code ? ` ${r.body.code}` : ''}): ${r.body?.message ?? 'no reason given'}`);
          return;
        }
        for (const i of r.body.instances) ids.push(`${i.instanceId} on ${i.hostId}`);
        if (ids.length === r.body.instances.length) this.select(r.body.instances[0]?.instanceId ?? null);
      }
      this.say('ok', `launched ${ids.join(', ')}`);
    } catch (e) {
      this.say('error', `launch failed: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async terminate(id) {
    const r = await call('DELETE', `/v1/instances/${id}`).catch((e) => ({ ok: false, status: 0, body: { message: e.message } }));
    if (!r.ok) this.say('error', `terminate ${id} failed: ${r.body?.message ?? r.status}`);
  }

  say(kind, text) {
    this.result.dataset.kind = kind;
    this.result.textContent = text;
  }

  select(id) {
    this.selected = id;
    this.render();
    this.onSelect(id);
  }

  /** list: InstanceRecord[] (GET /v1/instances) */
  update(list) {
    this.list = [...list].sort((a, b) => b.launchTime.localeCompare(a.launchTime));
    this.render();
  }

  render() {
    const live = this.list.filter((i) => i.state.name !== 'terminated').length;
    this.count.textContent = this.list.length ? `${live} live · ${this.list.length - live} terminated` : '';
    if (this.list.length === 0) {
      this.tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 5 }, 'no instances yet — launch one above')));
      return;
    }
    this.tbody.replaceChildren(...this.list.map((i) => {
      const gone = i.state.name === 'terminated';
      const kill = gone || i.state.name === 'shutting-down' ? '' : h('button', {
        class: 'link', title: `terminate ${i.instanceId}`, 'aria-label': `terminate ${i.instanceId}`,
        onclick: (ev) => { ev.stopPropagation(); void this.terminate(i.instanceId); },
      }, '✕');
      return h('tr', {
        'data-id': i.instanceId, class: `${gone ? 'gone' : ''} ${i.instanceId === this.selected ? 'selected' : ''}`.trim() || undefined,
        title: `launched ${clockTime(i.launchTime)}${i.stateReason ? ` · ${i.stateReason}` : ''}${i.userData ? `\n${i.userData}` : ''}`, onclick: () => this.select(i.instanceId),
        tabindex: 0, onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); this.select(i.instanceId); } },
      },
      h('td', { class: 'id' }, i.instanceId),
      h('td', {}, i.instanceType),
      h('td', {}, i.hostId),
      h('td', {}, h('span', { class: `state ${i.state.name}`, 'data-state': i.state.name }, i.state.name)),
      h('td', {}, kill));
    }));
  }

  stateOf(id) {
    return this.list.find((i) => i.instanceId === id)?.state.name ?? null;
  }
}
